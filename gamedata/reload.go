package gamedata

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// Reload replaces h's bundle with the compiled bundle in the file at path
// (the server's --gamedata-file, on SIGHUP and POST /debug/gamedata/reload)
// and returns the bundle it replaced and the one now current. A file that
// cannot be read or does not parse changes nothing. Work already running
// finishes on the old bundle; what to tell online players of a new version
// is the caller's. Each swap is logged with the file and both versions.
func (h *Holder) Reload(path string, log *slog.Logger) (old, cur *Bundle, err error) {
	if path == "" {
		return nil, nil, errors.New("no --gamedata-file to reload from: the server runs on the embedded bundle")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reload game data: %w", err)
	}
	cur, err = Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("reload game data from %s: %w", path, err)
	}
	old = h.Swap(cur)
	log.Info("game data reloaded", "file", path, "version", cur.Version, "previous", old.Version)
	return old, cur, nil
}
