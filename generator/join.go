package generator

import (
	"bytes"
	"strings"
	"text/template"

	"github.com/etcdimg/etcdimg/model"
)

// Day 2: seeds of nodes that join a running cluster (model.SeedJoin) or
// replace a dead member (model.SeedReplace). Their first boot installs etcd
// like a bootstrap seed's, then hands over to etcdimg-join.service, which
// adds the node as a learner, starts etcd with --initial-cluster-state
// existing and promotes it once it has caught up. The service, not
// cloud-init, does the waiting: a cluster that is unreachable for an hour
// must not hold cloud-init for an hour.
const (
	// JoinScriptPath is the join logic on the VM.
	JoinScriptPath = "/usr/local/sbin/etcdimg-join"
	// JoinServicePath runs it on every boot until the node is a voting
	// member.
	JoinServicePath = "/etc/systemd/system/etcdimg-join.service"
	// JoinEnvPath holds ETCD_INITIAL_CLUSTER for etcd's first start as a
	// joining member; etcd.service reads it, the join script writes it.
	JoinEnvPath = "/etc/etcd/etcd-join.env"
)

// JoinArgs is etcd's command line on a joining node: the bootstrap flags
// without --initial-cluster (the current member list comes from
// JoinEnvPath, as etcd reads ETCD_* variables where no flag is given) and
// with --initial-cluster-state=existing, so it can never start a cluster of
// its own.
func JoinArgs(c *model.Cluster, n model.Node) []string {
	var out []string
	for _, a := range EtcdArgs(c, n) {
		switch {
		case strings.HasPrefix(a, "--initial-cluster="):
		case strings.HasPrefix(a, "--initial-cluster-state="):
			out = append(out, "--initial-cluster-state=existing")
		default:
			out = append(out, a)
		}
	}
	return out
}

// joinEndpoints are the client URLs the joining node asks: the other
// members its seed was made with (membership.json's hosts of this node:
// the spec's nodes then), never its own, so removing a node later changes
// no existing seed; without a record, every other node of the spec.
func joinEndpoints(c *model.Cluster, n model.Node) string {
	var nodes []model.Node
	if mb, ok := c.Membership.Member(n.Name); ok && len(mb.Hosts) > 0 {
		for _, name := range mb.Hosts {
			if h, ok := c.Membership.Member(name); ok {
				nodes = append(nodes, model.Node{Name: h.Name, IP: h.IP})
			}
		}
	} else {
		nodes = c.Nodes
	}
	var eps []string
	for _, o := range nodes {
		if o.Name != n.Name {
			eps = append(eps, c.AdvertiseClientURLs(o)[0])
		}
	}
	return strings.Join(eps, ",")
}

var joinServiceTemplate = template.Must(template.New("etcdimg-join.service").Funcs(template.FuncMap{
	"arg":  systemdArg,
	"spec": systemdSpecifierEscape,
}).Parse(`# Written by etcdimg: makes {{spec .Node.Name}} a voting member of {{spec .Cluster.Name}} ({{.Kind}} seed).
[Unit]
Description=etcdimg: {{.Kind}} member {{spec .Node.Name}} to cluster {{spec .Cluster.Name}}
After=network-online.target
Wants=network-online.target

# Type=simple: the script may wait for the cluster for a long time, and
# nothing (boot, cloud-init) may wait for it. It exits 0 once the node is a
# voting member (at once on later boots) and non-zero when it refuses.
[Service]
Type=simple
ExecStart={{arg .Script}}
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`))

// The join script. Every step logs "etcdimg: <step> <seconds>s" like the
// first-boot script. State lives in the cluster and on disk only, so it is
// safe to reboot at any point and simply runs again:
//   - data dir with a member and no env file: done earlier, nothing to do;
//   - data dir with a member and the env file: etcd started as a learner,
//     only the promotion is left;
//   - empty data dir: (replace: remove the dead member of this name first)
//     add this node as a learner, reusing one already registered under its
//     peer URL, write the env file, start etcd.
var joinScriptTemplate = template.Must(template.New("etcdimg-join").Funcs(template.FuncMap{
	"sq": shellQuote,
}).Parse(`#!/bin/sh
# Written by etcdimg: makes this node member {{.Node.Name}} of the running cluster
# {{.Cluster.Name}} ({{.Kind}} seed). Run by etcdimg-join.service.
set -u

NAME={{sq .Node.Name}}
PEER_URL={{sq .PeerURL}}
MODE={{sq .Kind}}
ENDPOINTS={{sq .Endpoints}}
DATA_DIR={{sq .Cluster.Etcd.DataDir}}
ENV_FILE={{sq .EnvFile}}
ETCD_UNIT=etcd.service
{{- if .Cluster.TLS.Enabled}}
# The node's own client certificate: the cluster trusts every certificate of
# its CA, so no other credential has to travel.
CACERT={{sq .CACert}}
CERT={{sq .Cert}}
KEY={{sq .Key}}
{{- end}}

start=$(date +%s.%N)
step() {
	now=$(date +%s.%N)
	msg="etcdimg: $1 $(echo "$now - $start" | awk '{printf "%.3f", $1 - $3}')s"
	echo "$msg"
	logger -t etcdimg -- "$msg" 2>/dev/null || true
	start=$now
}
# say logs to stderr (the journal and the console): it runs inside $(...)
# too, where stdout is the value.
say() {
	echo "etcdimg: $*" >&2
	logger -t etcdimg -- "$*" 2>/dev/null || true
}
# refuse stops for good, without starting etcd: a human must look.
refuse() {
	echo "etcdimg: REFUSED: $*" >&2
	logger -t etcdimg -p user.err -- "REFUSED: $*" 2>/dev/null || true
	exit 2
}

ctl() {
	etcdctl --endpoints="$ENDPOINTS" --dial-timeout=5s --command-timeout=15s \
{{- if .Cluster.TLS.Enabled}}
		--cacert="$CACERT" --cert="$CERT" --key="$KEY" \
{{- end}}
		"$@"
}

# healthy URLS: the member behind these client URLs serves a linearizable
# read (etcd's /health answers true only with a leader and quorum).
healthy() {
	[ -n "$1" ] || return 1
	etcdctl --endpoints="$1" --dial-timeout=3s --command-timeout=5s \
{{- if .Cluster.TLS.Enabled}}
		--cacert="$CACERT" --cert="$CERT" --key="$KEY" \
{{- end}}
		endpoint health >/dev/null 2>&1
}

delay=2
backoff() {
	say "$1; retrying in ${delay}s"
	sleep "$delay"
	delay=$((delay * 2))
	[ "$delay" -le 30 ] || delay=30
}

# members: the cluster's member list, one member a line as etcdctl's simple
# format prints it: ID, status, name, peer URLs, client URLs, is-learner
# (columns split by ", ", URLs within a column by ","; an ID with a leading
# zero nibble is padded with a blank, which every reader strips). Waits for
# the cluster.
members() {
	while ! list=$(ctl member list -w simple 2>&1); do
		backoff "cluster unreachable at $ENDPOINTS: $(echo "$list" | tail -n 1)"
	done
	delay=2
	printf '%s\n' "$list"
}

# find_self LIST: "ID status name learner" of the member registered under
# this node's name or peer URL (an unstarted member has no name yet).
find_self() {
	printf '%s\n' "$1" | awk -F', ' -v name="$NAME" -v peer="$PEER_URL" '
		{ sub(/^ +/, "", $1) }
		NF >= 6 { hit = ($3 == name); n = split($4, p, ",")
			for (i = 1; i <= n; i++) if (p[i] == peer) hit = 1
			if (hit) { print $1, $2, ($3 == "" ? "-" : $3), $6; exit } }'
}

# initial_cluster LIST: etcd's --initial-cluster for a member joining now:
# every member's peer URLs, this node under its own name.
initial_cluster() {
	printf '%s\n' "$1" | awk -F', ' -v name="$NAME" -v peer="$PEER_URL" '
		NF >= 6 { n = split($4, p, ","); nm = $3
			for (i = 1; i <= n; i++) if (p[i] == peer) nm = name
			for (i = 1; i <= n; i++) { out = out sep nm "=" p[i]; sep = "," } }
		END { print out }'
}

if [ -d "$DATA_DIR/member" ] && [ ! -e "$ENV_FILE" ]; then
	say "$NAME already has its data in $DATA_DIR: nothing to join"
	exit 0
fi

if [ ! -d "$DATA_DIR/member" ]; then
	say "$MODE seed: making $NAME ($PEER_URL) a member through $ENDPOINTS"
{{- if eq .Kind "replace"}}
	# A replacement: the member of this name is the dead one, unless it is
	# our own learner from an earlier try (unstarted, learner, our peer URL).
	# The list is read serializable: it answers without quorum, so a cluster
	# that lost quorum gets a refusal that says so rather than a wait.
	while ! slist=$(ctl member list -w simple --consistency=s 2>&1); do
		backoff "cluster unreachable at $ENDPOINTS: $(echo "$slist" | tail -n 1)"
	done
	delay=2
	step cluster-reachable
	self=$(find_self "$slist")
	if [ -n "$self" ]; then
		# shellcheck disable=SC2086 # split into ID status name learner
		set -- $self
		if [ "$2" = unstarted ] && [ "$4" = true ]; then
			: # our learner: reused below
		else
			id=$1
			urls=$(printf '%s\n' "$slist" | awk -F', ' -v id="$id" '{ sub(/^ +/, "", $1) } $1 == id { print $5 }')
			if healthy "$urls"; then
				refuse "member $NAME ($id) is healthy at $urls: a replacement only removes a dead member; not starting etcd"
			fi
			# Quorum after the removal: the other voting members that answer
			# must be a majority of the voting members left.
			voters=0
			ok=0
			for m in $(printf '%s\n' "$slist" | awk -F', ' -v id="$id" '{ sub(/^ +/, "", $1) } NF >= 6 && $6 == "false" && $1 != id { print $1 "|" $5 }'); do
				voters=$((voters + 1))
				if healthy "${m#*|}"; then ok=$((ok + 1)); fi
			done
			need=$((voters / 2 + 1))
			if [ "$ok" -lt "$need" ]; then
				refuse "removing member $NAME ($id) would leave $ok healthy of $voters voting members, less than a quorum of $need; not starting etcd"
			fi
			out=$(ctl member remove "$id" 2>&1) || refuse "member remove $id: $out"
			say "removed dead member $NAME ($id); $ok of $voters other voting members healthy"
			step remove
		fi
	fi
	list=$(members)
{{- else}}
	list=$(members)
	step cluster-reachable
{{- end}}
	self=$(find_self "$list")
	while :; do
		if [ -n "$self" ]; then
			# shellcheck disable=SC2086
			set -- $self
			if [ "$2" = started ]; then
				refuse "member $NAME ($1) is running elsewhere or lost its data: an empty data dir must not rejoin under the old member ID; build a replacement seed (etcdimg build SPEC -o DIR --node $NAME --replace)"
			fi
			say "reusing the registered learner $1 with peer URL $PEER_URL"
			step learner-reused
			break
		fi
		if out=$(ctl member add "$NAME" --peer-urls="$PEER_URL" --learner 2>&1); then
			say "added as learner: $(echo "$out" | head -n 1)"
			step learner-added
			list=$(members)
			break
		fi
		# Most often another learner is pending (etcd allows one at a time)
		# or the cluster is busy; the add may also have gone through before
		# an error, so the list is read again before the next try.
		backoff "member add: $(echo "$out" | tail -n 1)"
		list=$(members)
		self=$(find_self "$list")
	done
	ic=$(initial_cluster "$list")
	tmp="$ENV_FILE.tmp"
	printf '# Written by etcdimg-join: the members %s joins; removed once it votes.\nETCD_INITIAL_CLUSTER=%s\n' "$NAME" "$ic" >"$tmp"
	chmod 0644 "$tmp"
	mv -f "$tmp" "$ENV_FILE"
	systemctl enable "$ETCD_UNIT" >/dev/null 2>&1 || true
	systemctl start --no-block "$ETCD_UNIT"
	say "etcd starting as a learner of $ic"
	step etcd-started
fi

# A learner is promoted once it has caught up with the leader; until then
# etcd answers "can only promote a learner member which is in sync with
# leader".
systemctl start --no-block "$ETCD_UNIT"
delay=1
while :; do
	self=$(find_self "$(members)")
	[ -n "$self" ] || refuse "member $NAME is no longer in the cluster (removed?); not promoting"
	# shellcheck disable=SC2086
	set -- $self
	[ "$4" = true ] || break
	if out=$(ctl member promote "$1" 2>&1); then
		break
	fi
	backoff "member promote $1: $(echo "$out" | tail -n 1)"
done
rm -f "$ENV_FILE"
say "$NAME is a voting member"
step promoted
`))

// joinFiles are the files a join or replace seed writes besides the
// bootstrap seed's: the join script and its service.
func joinFiles(c *model.Cluster, n model.Node) ([]writeFile, error) {
	kind, _ := c.SeedKind(n)
	data := struct {
		Cluster                  *model.Cluster
		Node                     model.Node
		Kind, PeerURL, Endpoints string
		EnvFile, Script          string
		CACert, Cert, Key        string
	}{
		Cluster: c, Node: n, Kind: kind, PeerURL: c.PeerURL(n), Endpoints: joinEndpoints(c, n),
		EnvFile: JoinEnvPath, Script: JoinScriptPath,
		CACert: VMPKIFile(c, "ca.crt"), Cert: VMPKIFile(c, "healthcheck-client.crt"), Key: VMPKIFile(c, "healthcheck-client.key"),
	}
	var script, service bytes.Buffer
	if err := joinScriptTemplate.Execute(&script, data); err != nil {
		return nil, err
	}
	if err := joinServiceTemplate.Execute(&service, data); err != nil {
		return nil, err
	}
	return []writeFile{
		{Path: JoinScriptPath, Owner: "root:root", Permissions: "0755", Content: script.String()},
		{Path: JoinServicePath, Owner: "root:root", Permissions: "0644", Content: service.String()},
	}, nil
}

// JoinScript is n's join script, for tests that run it.
func JoinScript(c *model.Cluster, n model.Node) (string, error) {
	fs, err := joinFiles(c, n)
	if err != nil {
		return "", err
	}
	return fs[0].Content, nil
}

// hostsFor is n's /etc/hosts: the members recorded for its seed (the
// spec's nodes when the seed was first made), as recorded, so a node added
// later changes no existing seed; without a record, every node of the spec.
func hostsFor(c *model.Cluster, n model.Node) string {
	mb, ok := c.Membership.Member(n.Name)
	if !ok || len(mb.Hosts) == 0 {
		return hosts(c)
	}
	hc := &model.Cluster{}
	for _, name := range mb.Hosts {
		if h, ok := c.Membership.Member(name); ok {
			hc.Nodes = append(hc.Nodes, model.Node{Name: h.Name, FQDN: h.FQDN, IP: h.IP})
		}
	}
	return hosts(hc)
}
