// Package dumpio writes and reads a prereg store's contents as a stream:
// what prereg backup writes in etcd mode, and what prereg restore reads
// into either kind of store.
//
// The stream is text, one JSON object per line:
//
//	{"format":"prereg-dump","version":1}
//	{"kind":"secret","secret":{"name":"…","value":"<base64>"}}
//	{"kind":"token","token":{"id":"…",…,"hash":"<base64>","revoked":true}}
//	{"kind":"registration","registration":{…,"synced_role_ids":[…]}}
//	…
//	{"kind":"end","counts":{"registration":2,…}}
//
// Items come in prereg.DumpKinds order, times in RFC 3339 with
// nanoseconds. The end line counts the items by kind, so a stream cut
// short (a disk that filled up during a backup) is refused rather than
// restored in part. A reader refuses unknown fields and kinds: a stream of
// a newer version carries its own version number, and one whose fields
// this reader does not know would otherwise lose them silently.
package dumpio
