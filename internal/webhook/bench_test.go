package webhook_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/webhook"
)

// BenchmarkVerify measures one accepted hook signature (a fresh id each time,
// so the replay cache is exercised) with a typical 160-byte body and two
// configured secrets, the second one matching (rotation: the worst case).
func BenchmarkVerify(b *testing.B) {
	old, _ := webhook.GenerateSecret()
	cur, _ := webhook.GenerateSecret()
	kOld, kCur := mustKey(b, old), mustKey(b, cur)
	clk := newClock(time.Unix(1_700_000_000, 0))
	v := &webhook.Verifier{Secrets: [][]byte{kOld, kCur}, Now: clk.now, Tolerance: time.Second}
	body := []byte(`{"user_id":"auth0|63d16bb22b2c1a2ae38bad61","email":"Ana.Silva@Example.com","email_verified":true,"organization_id":"org_dr3b5S9l3sReLayv","connection":"db"}`)

	// Ids are reused every 4096 requests; with a one-second tolerance and
	// the clock moving one second per 1024 requests they have expired by
	// then, so the cache stays at a steady ~3000 entries.
	const ring, epoch = 4096, 1024
	ids := make([]string, ring)
	for i := range ids {
		ids[i] = "msg_" + strconv.Itoa(i)
	}
	sigs := make([]string, epoch)
	var ts string
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%epoch == 0 {
			b.StopTimer()
			clk.add(time.Second)
			now := clk.now()
			ts = strconv.FormatInt(now.Unix(), 10)
			for j := range sigs {
				sigs[j] = webhook.Sign(kCur, ids[(i+j)%ring], now, body)
			}
			b.StartTimer()
		}
		if err := v.Verify(ids[i%ring], ts, sigs[i%epoch], body); err != nil {
			b.Fatal(err)
		}
	}
}
