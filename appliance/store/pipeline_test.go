package store

import (
	"errors"
	"testing"
)

// TestPipelined: records arrive in order; a failing apply stops the
// producer and is returned; a failing producer is returned after every
// record it emitted was applied.
func TestPipelined(t *testing.T) {
	count := func(n int, failAt int64, produceErr error) (applied []int64, perr, aerr error) {
		perr, aerr = pipelined(func(emit func(decodedRecord) error) error {
			for i := range n {
				if err := emit(decodedRecord{off: int64(i)}); err != nil {
					return err
				}
			}
			return produceErr
		}, func(r decodedRecord) error {
			if r.off == failAt {
				return errors.New("apply failed")
			}
			applied = append(applied, r.off)
			return nil
		})
		return applied, perr, aerr
	}
	applied, perr, aerr := count(5*pipelineBatch+3, -1, nil)
	if perr != nil || aerr != nil || len(applied) != 5*pipelineBatch+3 {
		t.Fatalf("clean run: %d applied, %v, %v", len(applied), perr, aerr)
	}
	for i, off := range applied {
		if off != int64(i) {
			t.Fatalf("record %d applied as %d-th", off, i)
		}
	}
	applied, perr, aerr = count(100*pipelineBatch, 700, nil)
	if perr != nil || aerr == nil || len(applied) != 700 {
		t.Errorf("apply failing at 700: %d applied, %v, %v", len(applied), perr, aerr)
	}
	wantErr := errors.New("read failed")
	applied, perr, aerr = count(pipelineBatch+1, -1, wantErr)
	if !errors.Is(perr, wantErr) || aerr != nil || len(applied) != pipelineBatch+1 {
		t.Errorf("producer failing: %d applied, %v, %v", len(applied), perr, aerr)
	}
}
