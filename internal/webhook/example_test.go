package webhook_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prereg/prereg/internal/webhook"
)

func Example() {
	// At start: parse --signing-secrets once and keep one Verifier.
	keys, err := webhook.ParseSecrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	v := &webhook.Verifier{Secrets: keys, Now: func() time.Time { return time.Unix(1614265330, 0) }}

	// Per request: the raw body as received, and its headers.
	body := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	h.Set(webhook.HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(webhook.HeaderTimestamp, "1614265330")
	h.Set(webhook.HeaderSignature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	fmt.Println(v.VerifyRequest(h, body))
	fmt.Println(v.VerifyRequest(h, body)) // the same id again
	// Output:
	// <nil>
	// unauthorized: webhook signature: webhook-id already seen (replay)
}
