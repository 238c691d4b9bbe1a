package tokens_test

import (
	"bytes"
	"testing"

	"github.com/socialbridge/socialbridge/tokens"
)

func TestDeriveKeyGivesOneIndependentKeyPerPurpose(t *testing.T) {
	t.Parallel()
	master := bytes.Repeat([]byte{7}, 32)
	seal, err := tokens.DeriveKey(master, tokens.PurposeSealing)
	if err != nil {
		t.Fatal(err)
	}
	flow, err := tokens.DeriveKey(master, tokens.PurposeLoginFlow)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := tokens.DeriveKey(master, tokens.PurposeSealing)
	other, _ := tokens.DeriveKey(bytes.Repeat([]byte{8}, 32), tokens.PurposeSealing)
	tests := []struct {
		name string
		ok   bool
	}{
		{"keys are 32 bytes", len(seal) == 32 && len(flow) == 32},
		{"the same master and purpose give the same key", bytes.Equal(seal, again)},
		{"two purposes give different keys", !bytes.Equal(seal, flow)},
		{"no derived key is the master key", !bytes.Equal(seal, master) && !bytes.Equal(flow, master)},
		{"another master gives another key", !bytes.Equal(seal, other)},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: does not hold", tt.name)
		}
	}
	if _, err := tokens.DeriveKey([]byte("short"), tokens.PurposeSealing); err == nil {
		t.Error("DeriveKey accepted a 5-byte master key")
	}
}
