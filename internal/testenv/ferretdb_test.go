package testenv

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestFerretDBServesAndStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var uri string
	t.Run("serve", func(t *testing.T) {
		start := time.Now()
		uri = FerretDB(t)
		t.Logf("ferretdb answering after %s", time.Since(start))
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Disconnect(ctx)
		coll := client.Database("rampart").Collection("probe")
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "p1"}, {Key: "trophies", Value: 42}}); err != nil {
			t.Fatalf("insert: %v", err)
		}
		var got struct {
			ID       string `bson:"_id"`
			Trophies int    `bson:"trophies"`
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "trophies", Value: bson.D{{Key: "$gt", Value: 40}}}}).Decode(&got); err != nil {
			t.Fatalf("find: %v", err)
		}
		if got.ID != "p1" || got.Trophies != 42 {
			t.Fatalf("got %+v, want p1 with 42 trophies", got)
		}
	})
	if t.Skipped() || uri == "" {
		return
	}
	if err := waitMongo(uri, nil, 300*time.Millisecond); err == nil {
		t.Fatalf("%s still answers after its test ended", uri)
	}
}

func TestFerretDBSeparateInstances(t *testing.T) {
	a, b := FerretDB(t), FerretDB(t)
	if a == b {
		t.Fatalf("two instances share %s", a)
	}
}
