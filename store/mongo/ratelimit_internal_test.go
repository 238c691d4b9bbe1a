package mongo

import (
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// An unordered bulk write of $inc upserts is sent again only for the
// operations that lost the race to insert their counter (duplicate key),
// which added nothing: sending any other again would count it twice.
func TestDuplicateKeyRetries(t *testing.T) {
	t.Parallel()
	models := []mongo.WriteModel{mongo.NewUpdateOneModel(), mongo.NewUpdateOneModel(), mongo.NewUpdateOneModel()}
	writeErr := func(index, code int) mongo.BulkWriteError {
		return mongo.BulkWriteError{WriteError: mongo.WriteError{Index: index, Code: code}}
	}
	tests := []struct {
		name string
		err  error
		want []int // indexes of models to send again; nil: none, fail
	}{
		{"duplicate keys only", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(0, duplicateKey), writeErr(2, duplicateKey)}}, []int{0, 2}},
		{"wrapped", fmt.Errorf("bulk: %w", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(1, duplicateKey)}}), []int{1}},
		{"another write error too", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(0, duplicateKey), writeErr(1, 2)}}, nil},
		{"a write concern error", mongo.BulkWriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64},
			WriteErrors: []mongo.BulkWriteError{writeErr(0, duplicateKey)}}, nil},
		{"an index out of range", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(3, duplicateKey)}}, nil},
		{"no write errors", mongo.BulkWriteException{}, nil},
		{"not a bulk write error", errors.New("network"), nil},
	}
	for _, tt := range tests {
		got := duplicateKeyRetries(tt.err, models)
		if len(got) != len(tt.want) || (tt.want == nil) != (got == nil) {
			t.Errorf("%s: %d operations to send again, want %v", tt.name, len(got), tt.want)
			continue
		}
		for i, idx := range tt.want {
			if got[i] != models[idx] {
				t.Errorf("%s: operation %d to send again is not model %d", tt.name, i, idx)
			}
		}
	}
}
