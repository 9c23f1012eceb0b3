package sim

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Spec names one replica of a Cluster.
type Spec struct {
	Name    string
	Profile Profile
	// Addr is the host:port to listen on; "" means 127.0.0.1:0.
	Addr string
}

// Cluster is a set of replicas started together. They share one version
// epoch: a bump on any of them (Bump, or POST /_sim/bump) is a write that every
// replica serves from then on.
type Cluster struct {
	replicas []*Replica
	byName   map[string]*Replica
}

// NewCluster starts one replica per spec, in order, all with seed (each
// replica mixes its name into it). Names must be unique. If one fails to start,
// those already started are closed.
func NewCluster(specs []Spec, seed uint64) (*Cluster, error) {
	c := &Cluster{byName: make(map[string]*Replica, len(specs))}
	epoch := new(atomic.Int64)
	for _, s := range specs {
		if _, dup := c.byName[s.Name]; dup || s.Name == "" {
			c.Close()
			return nil, fmt.Errorf("sim cluster: replica name %q is empty or repeated", s.Name)
		}
		opts := []Option{sharedEpoch(epoch)}
		if s.Addr != "" {
			opts = append(opts, ListenAddr(s.Addr))
		}
		r, err := NewReplica(s.Name, s.Profile, seed, opts...)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.replicas = append(c.replicas, r)
		c.byName[s.Name] = r
	}
	return c, nil
}

// Replicas returns the replicas in spec order.
func (c *Cluster) Replicas() []*Replica {
	return append([]*Replica(nil), c.replicas...)
}

// Replica returns the replica named name, or nil.
func (c *Cluster) Replica(name string) *Replica { return c.byName[name] }

// URLs returns the replicas' base URLs in spec order.
func (c *Cluster) URLs() []string {
	urls := make([]string, len(c.replicas))
	for i, r := range c.replicas {
		urls[i] = r.URL()
	}
	return urls
}

// Served is the sum of every replica's Served: backend requests, to divide by
// client requests for the amplification factor.
func (c *Cluster) Served() int64 {
	var n int64
	for _, r := range c.replicas {
		n += r.Served()
	}
	return n
}

// Bump makes every key's fresh version one higher on every replica and returns
// the new epoch.
func (c *Cluster) Bump() int64 {
	if len(c.replicas) == 0 {
		return 0
	}
	return c.replicas[0].Bump()
}

// Close closes every replica and returns their errors joined.
func (c *Cluster) Close() error {
	var errs []error
	for _, r := range c.replicas {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}
