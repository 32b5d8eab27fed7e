package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"rampart/gamedata"
	"rampart/journal"
	"rampart/state"
)

// replayCmd is `rampart replay`: the answer to "what happened to my
// base?". It rebuilds one player from a checkpoint (a saved player
// document, as S3 holds it; none: a new player) and a journal directory,
// prints every record it applies, verifies each record's state hash, and
// fails on a divergence or a gap.
func replayCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("journal-dir", "./data/journal", "journal directory (a server's, or shipped segments)")
	player := fs.String("player", "", "player id (required)")
	checkpoint := fs.String("checkpoint", "", "saved player document to start from (empty: a new player)")
	gdFile := fs.String("gamedata-file", "", "compiled game data the records ran with; empty uses the embedded bundle")
	final := fs.Bool("json", false, "print the rebuilt player document as JSON at the end")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *player == "" {
		return errors.New("replay: --player is required")
	}
	gd, err := loadBundle(*gdFile)
	if err != nil {
		return err
	}
	var p state.Player
	have := false
	if *checkpoint != "" {
		data, err := os.ReadFile(*checkpoint)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if p, err = state.DecodePlayer(data); err != nil {
			return fmt.Errorf("replay: checkpoint: %w", err)
		}
		have = true
		fmt.Fprintf(stdout, "checkpoint %s: rev %d, last_seq %d\n", *checkpoint, p.Rev, p.LastSeq)
	}
	rp := state.Replayer{Bundles: func(v string) *gamedata.Bundle {
		if v == gd.Version {
			return gd
		}
		return nil
	}}
	applied := 0
	_, err = journal.Replay(*dir, 0, func(lsn journal.LSN, r *journal.Record) error {
		if r.Player != *player {
			return nil
		}
		if !have {
			p = state.NewPlayer(*player, gd, time.UnixMilli(r.At))
			have = true
		}
		if r.Rev <= p.Rev {
			return nil
		}
		at := time.UnixMilli(r.At).UTC().Format(time.RFC3339Nano)
		if err := rp.Apply(&p, r); err != nil {
			fmt.Fprintf(stdout, "%10d rev %-6d seq %-6d %-6s %-18s %s %s  FAILED\n", lsn, r.Rev, r.Seq, r.Kind, r.Name, at, r.Args)
			return err
		}
		applied++
		fmt.Fprintf(stdout, "%10d rev %-6d seq %-6d %-6s %-18s %s %s  ok %016x\n", lsn, r.Rev, r.Seq, r.Kind, r.Name, at, r.Args, r.Hash)
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay %s: %w", *player, err)
	}
	fmt.Fprintf(stdout, "%d records applied and verified; %s at rev %d, last_seq %d, resources %v\n",
		applied, *player, p.Rev, p.LastSeq, p.Base.Res)
	if *final {
		out, _ := json.MarshalIndent(&p, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
	}
	return nil
}
