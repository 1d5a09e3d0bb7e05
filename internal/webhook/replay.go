package webhook

import "hash/maphash"

// replayCache remembers the webhook-ids of accepted requests until their
// timestamp leaves the tolerance window, after which the timestamp check
// refuses a replay anyway.
//
// It stores a 128-bit keyed digest of each id instead of the id, so an entry
// costs the same however long the id is; the random seeds keep anyone from
// crafting two ids with the same digest. Expiry is a min-heap on the
// expiry time, because ids arrive with timestamps anywhere inside the window,
// not in order. Callers hold Verifier.mu.
type replayCache struct {
	seed1, seed2 maphash.Seed
	ids          map[idKey]struct{}
	byExpiry     expiryHeap
}

type idKey [2]uint64

type replayEntry struct {
	key    idKey
	expiry int64 // Unix seconds; the id may be dropped once now > expiry
}

func (c *replayCache) init() {
	c.seed1, c.seed2 = maphash.MakeSeed(), maphash.MakeSeed()
	c.ids = make(map[idKey]struct{})
}

func (c *replayCache) key(id string) idKey {
	return idKey{maphash.String(c.seed1, id), maphash.String(c.seed2, id)}
}

// add records id, or refuses it as a replay, or refuses it because max
// unexpired ids are already held.
func (c *replayCache) add(id string, expiry, now int64, max int) error {
	c.expire(now)
	k := c.key(id)
	if _, dup := c.ids[k]; dup {
		return ErrReplay
	}
	if len(c.ids) >= max {
		return ErrReplayCacheFull
	}
	c.ids[k] = struct{}{}
	c.byExpiry.push(replayEntry{key: k, expiry: expiry})
	return nil
}

// expire drops the ids whose timestamp has left the window.
func (c *replayCache) expire(now int64) {
	for len(c.byExpiry) > 0 && c.byExpiry[0].expiry < now {
		delete(c.ids, c.byExpiry.pop().key)
	}
}

func (c *replayCache) len() int { return len(c.ids) }

// expiryHeap is a binary min-heap on expiry, written out rather than
// through container/heap so that pushing does not box every entry.
type expiryHeap []replayEntry

func (h *expiryHeap) push(e replayEntry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].expiry <= s[i].expiry {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *expiryHeap) pop() replayEntry {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].expiry < s[m].expiry {
			m = l
		}
		if r < len(s) && s[r].expiry < s[m].expiry {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
