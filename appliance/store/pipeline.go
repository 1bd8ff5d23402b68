package store

import "errors"

// Start-up reads, checks and decodes records on one core while it applies
// them to memdb on another: decoding is about half of a restart's work,
// and the appliance has two cores doing nothing else then.

// decodedRecord is a record and where its file holds it.
type decodedRecord struct {
	off, n int64
	rec    record
}

// pipelineBatch is how many records are handed over at once.
const pipelineBatch = 512

var errPipelineStopped = errors.New("stopped: a record did not apply")

// pipelined runs produce in a goroutine of its own and calls apply, in
// the caller's goroutine, for every record produce emits (a decoded
// journal or snapshot record), in order. Once
// apply fails, emit returns errPipelineStopped and nothing more is
// applied. It returns produce's error and apply's first, once produce has
// returned. The records produce emits must not share memory it reuses.
func pipelined[T any](produce func(emit func(T) error) error, apply func(T) error) (produceErr, applyErr error) {
	full := make(chan []T, 4)
	free := make(chan []T, 6)
	stop := make(chan struct{})
	go func() {
		defer close(full)
		batch := make([]T, 0, pipelineBatch)
		send := func() error {
			select {
			case <-stop:
				return errPipelineStopped
			case full <- batch:
			}
			select {
			case batch = <-free:
			default:
				batch = make([]T, 0, pipelineBatch)
			}
			return nil
		}
		produceErr = produce(func(r T) error {
			batch = append(batch, r)
			if len(batch) < pipelineBatch {
				return nil
			}
			return send()
		})
		if len(batch) > 0 && !errors.Is(produceErr, errPipelineStopped) {
			if err := send(); err != nil {
				produceErr = err
			}
		}
	}()
	for batch := range full {
		for _, r := range batch {
			if applyErr != nil {
				break
			}
			if applyErr = apply(r); applyErr != nil {
				close(stop)
			}
		}
		clear(batch)
		select {
		case free <- batch[:0]:
		default:
		}
	}
	if errors.Is(produceErr, errPipelineStopped) {
		produceErr = nil
	}
	return produceErr, applyErr
}
