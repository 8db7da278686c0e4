package model_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/etcdimg/etcdimg/model"
)

// checkQuantity holds model.ParseQuantity to Kubernetes' own parser: what
// the model accepts, kubelet accepts with the same value.
func checkQuantity(t *testing.T, s string) {
	q, err := model.ParseQuantity(s)
	if err != nil {
		return
	}
	k, kerr := resource.ParseQuantity(s)
	if kerr != nil {
		t.Fatalf("model accepts %q, Kubernetes does not: %v", s, kerr)
	}
	if k.Sign() < 0 {
		t.Fatalf("model accepts the negative %q", s)
	}
	if got := k.MilliValue(); got != q.Milli {
		t.Fatalf("%q: model %d thousandths, Kubernetes %d", s, q.Milli, got)
	}
}

func TestQuantityAgreesWithKubernetes(t *testing.T) {
	for _, s := range []string{"100m", "100Mi", "0", "0.5", ".5", "5.", "+1", "1e3", "1E-3", "2k", "1Ki", "1Pi", "7n", "3u",
		"1.5Gi", "123456789", "0.0001"} {
		if _, err := model.ParseQuantity(s); err != nil {
			t.Errorf("%q refused: %v", s, err)
		}
		checkQuantity(t, s)
	}
	for _, s := range []string{"", "100 millicores", "100 Mi", "-1", "1ki", "1.2.3", "e3", "1e", "lots", "1mi", ".", "1e99", "9E"} {
		if _, err := model.ParseQuantity(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzQuantity(f *testing.F) {
	for _, s := range []string{"100m", "1.5Gi", "1e3", "+.5", "100 millicores"} {
		f.Add(s)
	}
	f.Fuzz(checkQuantity)
}
