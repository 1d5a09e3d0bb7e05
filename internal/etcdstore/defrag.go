package etcdstore

import (
	"context"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A member being defragmented answers nothing until its file is
// rewritten. Reads sent to it are hedged (hedge.go), but a claim is not,
// so a claim sent there in that time would wait until its call timeout.
// So the replica that defragments a member announces it first, under
// kDefrag on its own lease (gone with the replica if it dies), and waits
// announceGrace before it begins; every replica watches kDefrag and sends
// nothing more to an announced member until the announcement is deleted.
// A claim takes milliseconds, so those sent before the announcement
// reached a replica are answered before the member stops.
const (
	kDefrag       = "defrag/" // member ID (hex) -> "" while it is defragmented
	announceGrace = 250 * time.Millisecond
)

// announceDefrag announces that member id is about to be defragmented;
// release ends the announcement.
func (s *Store) announceDefrag(ctx context.Context, id uint64) (release func(), err error) {
	lease, err := s.leaseID(ctx)
	if err != nil {
		return nil, err
	}
	key := s.k(kDefrag, strconv.FormatUint(id, 16))
	cctx, cancel := s.call(ctx)
	_, err = s.cli.Put(cctx, key, "", clientv3.WithLease(lease))
	cancel()
	if err != nil {
		return nil, translate(err)
	}
	release = func() {
		// Also after ctx ended: the member answers again.
		cctx, cancel := s.call(context.WithoutCancel(ctx))
		defer cancel()
		if _, err := s.cli.Delete(cctx, key); err != nil {
			s.log.Warn("erasure: the announcement of a member's defragmentation stays until this replica's lease ends", "error", err)
		}
	}
	select {
	case <-time.After(announceGrace):
		return release, nil
	case <-ctx.Done():
		release()
		return nil, translate(ctx.Err())
	}
}

// watchDefrags keeps hedgeState.announced as the announcements under
// kDefrag say, until the store closes: a read of them all, then a watch
// from the revision after it, again from a read whenever the watch ends.
func (s *Store) watchDefrags() {
	h := &s.hedgeState
	prefix := s.k(kDefrag)
	for h.ctx.Err() == nil {
		if err := s.followDefrags(prefix); err != nil && h.ctx.Err() == nil {
			s.log.Debug("etcd: watching announced defragmentations", "error", err)
			select {
			case <-h.ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Store) followDefrags(prefix string) error {
	h := &s.hedgeState
	ctx, cancel := context.WithTimeout(h.ctx, s.opts.CallTimeout)
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return err
	}
	now := map[uint64]bool{}
	for _, kv := range resp.Kvs {
		if id, err := strconv.ParseUint(string(kv.Key[len(prefix):]), 16, 64); err == nil {
			now[id] = true
		}
	}
	for i := range s.hedge {
		h.announced[i].Store(now[s.memberID(i)])
	}
	// The watch must not outlive the store, nor end while it lives: the
	// leader requirement makes it fail (and be made again) when the
	// member it runs on loses the cluster.
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(h.ctx))
	defer wcancel()
	for wr := range s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			id, err := strconv.ParseUint(string(ev.Kv.Key[len(prefix):]), 16, 64)
			if err != nil {
				continue
			}
			for i := range s.hedge {
				if s.memberID(i) == id {
					h.announced[i].Store(ev.Type == clientv3.EventTypePut)
				}
			}
		}
	}
	return h.ctx.Err()
}

// memberID is the ID of the member the client s.hedge[i] talks to, asked
// of it once (0 while it could not be asked).
func (s *Store) memberID(i int) uint64 {
	h := &s.hedgeState
	if id := h.ids[i].Load(); id != 0 {
		return id
	}
	ctx, cancel := context.WithTimeout(h.ctx, s.opts.CallTimeout)
	defer cancel()
	st, err := s.hedge[i].Status(ctx, s.hedge[i].Endpoints()[0])
	if err != nil {
		return 0
	}
	h.ids[i].Store(st.Header.MemberId)
	return st.Header.MemberId
}
