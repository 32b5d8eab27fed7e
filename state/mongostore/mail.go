package mongostore

import (
	"context"
	"encoding/json"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"rampart/state"
)

// mailDoc is a mail document. The body is kept as the JSON text it came
// as: lossless, readable in mongosh, and any JSON value (not only objects)
// survives.
type mailDoc struct {
	ID      string `bson:"_id"`
	To      string `bson:"to"`
	Kind    string `bson:"kind"`
	Created int64  `bson:"created"` // Unix ms
	Body    string `bson:"body"`
}

// Send inserts m. Sending an ID that is already there is not an error and
// stores nothing (its duplicate key error is the dedup), so a retry after
// a lost reply is safe.
func (s *Store) Send(ctx context.Context, m state.Mail) error {
	if m.ID == "" || m.To == "" {
		return fmt.Errorf("send mail %q to %q: empty id or recipient", m.ID, m.To)
	}
	doc := mailDoc{ID: m.ID, To: m.To, Kind: m.Kind, Created: m.Created, Body: string(m.Body)}
	err := s.keeper.Do(ctx, "mongo:mail_send", func(ctx context.Context) error {
		_, err := s.mail.InsertOne(ctx, doc)
		if mongo.IsDuplicateKeyError(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("send mail %s to %s: %w", m.ID, m.To, err)
	}
	return nil
}

// Pending returns to's mail, oldest first (ties by id).
func (s *Store) Pending(ctx context.Context, to string) ([]state.Mail, error) {
	opts := options.Find().SetSort(bson.D{{Key: "created", Value: 1}, {Key: "_id", Value: 1}})
	var out []state.Mail
	err := s.keeper.Do(ctx, "mongo:mail_pending", func(ctx context.Context) error {
		out = out[:0]
		cur, err := s.mail.Find(ctx, bson.D{{Key: "to", Value: to}}, opts)
		if err != nil {
			return err
		}
		out, err = decodeAll(ctx, cur, "mail", out, func(d *mailDoc) state.Mail {
			var body json.RawMessage
			if d.Body != "" {
				body = json.RawMessage(d.Body)
			}
			return state.Mail{ID: d.ID, To: d.To, Kind: d.Kind, Created: d.Created, Body: body}
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pending mail for %s: %w", to, err)
	}
	return out, nil
}

// Delete removes the mail with the given ids; ids that are gone already
// are ignored, so it is idempotent.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	err := s.keeper.Do(ctx, "mongo:mail_delete", func(ctx context.Context) error {
		_, err := s.mail.DeleteMany(ctx, filter)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete %d mails: %w", len(ids), err)
	}
	return nil
}
