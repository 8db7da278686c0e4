package model

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
)

// Quantity is a Kubernetes resource quantity ("100m", "100Mi", "1.5",
// "2e3") as the spec wrote it, parsed.
type Quantity struct {
	Text string
	// Milli is the value in thousandths, rounded up as Kubernetes rounds
	// a CPU request to whole millicores.
	Milli int64
}

// quantityRE is Kubernetes' quantity grammar (apimachinery's
// resource.ParseQuantity): a number, then a binary or decimal SI suffix or
// a decimal exponent. No minus sign: a resource request is never negative.
var quantityRE = regexp.MustCompile(`^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:([eE])([+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$`)

var quantitySuffix = map[string]*big.Rat{
	"": big.NewRat(1, 1), "n": big.NewRat(1, 1e9), "u": big.NewRat(1, 1e6), "m": big.NewRat(1, 1e3),
	"k": big.NewRat(1e3, 1), "M": big.NewRat(1e6, 1), "G": big.NewRat(1e9, 1), "T": big.NewRat(1e12, 1),
	"P": big.NewRat(1e15, 1), "E": big.NewRat(1e18, 1),
	"Ki": big.NewRat(1<<10, 1), "Mi": big.NewRat(1<<20, 1), "Gi": big.NewRat(1<<30, 1), "Ti": big.NewRat(1<<40, 1),
	"Pi": big.NewRat(1<<50, 1), "Ei": big.NewRat(1<<60, 1),
}

// ParseQuantity parses s as kubelet would, refusing what it would refuse
// and what no request can be: negative or beyond int64 thousandths.
// kubelet reports a bad quantity only in its log and never starts the pod,
// so this must be found before a seed is written.
func ParseQuantity(s string) (Quantity, error) {
	m := quantityRE.FindStringSubmatch(s)
	if m == nil || len(s) > 64 {
		return Quantity{}, fmt.Errorf("%q is not a Kubernetes quantity such as 100m, 0.5, 100Mi or 1Gi", s)
	}
	num, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return Quantity{}, fmt.Errorf("%q is not a Kubernetes quantity such as 100m, 0.5, 100Mi or 1Gi", s)
	}
	if m[2] != "" {
		e, err := strconv.Atoi(m[3])
		if err != nil || e > 30 || e < -30 {
			return Quantity{}, fmt.Errorf("%q: the exponent is out of range", s)
		}
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil)
		f := new(big.Rat).SetInt(p)
		if e < 0 {
			f.Inv(f)
		}
		num.Mul(num, f)
	} else {
		num.Mul(num, quantitySuffix[m[4]])
	}
	num.Mul(num, big.NewRat(1000, 1))
	// Round up to a whole thousandth.
	q, r := new(big.Int).QuoRem(num.Num(), num.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() > math.MaxInt64/2 {
		return Quantity{}, fmt.Errorf("%q is too large", s)
	}
	return Quantity{Text: s, Milli: q.Int64()}, nil
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}
