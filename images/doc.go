// Package images writes the ISO 9660 images that carry a node's cloud-init
// NoCloud seed (volume id "cidata"): a from-scratch, streaming, deterministic
// writer for ECMA-119 with SUSP/Rock Ridge (RRIP 1.10, "RRIP_1991A") and Joliet.
//
// # Layout
//
// The image is produced front to back in one pass, so any io.Writer works and
// nothing is ever seeked or rewritten. Everything is placed before the first
// byte is written:
//
//	sector 0-15    system area, zero
//	sector 16      primary volume descriptor
//	sector 17      Joliet supplementary volume descriptor (escape "%/E", UCS-2 BE)
//	sector 18      volume descriptor set terminator
//	then           L and M path tables of the primary tree, then of the Joliet tree
//	then           primary directory extents (path table order), then Joliet ones
//	then           one sector of Rock Ridge continuation area holding the ER entry
//	then           file data, each file padded to 2048 bytes, in primary tree order
//
// Empty files get extent 0 and length 0, as mkisofs does. The image ends with
// the last file's padding; the volume space size counts every sector written.
//
// The primary tree uses level-1 names (upper-case d-characters, 8.3, ";1" on
// files); names that collide after mangling get a numeric tail, decided in
// byte order of the real names so the result never depends on input order.
// Every record carries Rock Ridge RR, PX (the 36-byte RRIP 1.10 form), TF
// and, except "." and "..", NM with the real name, so Linux, xorriso, isoinfo
// and go-diskfs see the names, modes and owners as given. The root "." record
// starts with SP and ends with a CE to the continuation sector: the ER entry
// does not fit in a directory record, and go-diskfs only follows a CE that is
// the last entry. Joliet names are the real names in UCS-2; a name longer than
// 64 characters is truncated (keeping a short extension) and made unique with
// a "~N" tail rather than rejected, because Rock Ridge, the tree Linux reads,
// keeps it whole. Directories are recorded as mode 0555, owned by 0:0.
//
// Every timestamp, in the descriptors, the directory records and TF, is
// Options.ModTime in UTC; directory records and path tables are built from
// sorted slices. The same files and options therefore give the same bytes.
//
// # Why not go-diskfs's writer
//
// go-diskfs (used by the tests to read images back) can also write ISOs, but
// its Joliet tree is wrong in sub-folders, it stamps time.Now() into the image
// so no two builds are byte-identical, it ignores some write errors, and it
// copies file data in 2 KiB chunks through user space. Here, file data from a
// SourcePath goes through io.Copy, so when the destination is an *os.File the
// kernel moves it (copy_file_range or sendfile) without a user-space buffer.
package images
