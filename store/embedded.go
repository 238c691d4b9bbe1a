package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Embedded is a FerretDB server (SQLite backend) running inside this
// process on a loopback port, spoken to over the MongoDB wire protocol by the
// same code as production.
type Embedded struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
}

// StartEmbedded starts the embedded database with its files under dir,
// listening on addr (a loopback host:port; port 0 picks a free one). The
// logger should be quiet: FerretDB logs every failed command in full at
// WARN, and a failed conditional update is routine here.
func StartEmbedded(dir, addr string, logger *slog.Logger) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create embedded database directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded database directory: %w", err)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
		Logger:    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded database in %s: %w", abs, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx) // returns nil when ctx ends
	}()
	// MongoDBURI waits until the listener is bound.
	return &Embedded{uri: f.MongoDBURI(), cancel: cancel, done: done}, nil
}

// URI is the mongodb:// address of the embedded server.
func (e *Embedded) URI() string { return e.uri }

// Close stops the server and waits for it to release its files.
func (e *Embedded) Close() {
	e.cancel()
	<-e.done
}
