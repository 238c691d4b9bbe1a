package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	hundred := make([]time.Duration, 100) // 1 ms, 2 ms, ..., 100 ms
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   float64
	}{
		{"no latencies give 0", nil, 0.99, 0},
		{"one latency is every percentile", []time.Duration{3 * time.Millisecond}, 0.5, 3},
		{"the median of 100 is the 50th", hundred, 0.50, 50},
		{"p99 of 100 is the 99th, not the largest", hundred, 0.99, 99},
		{"p100 is the largest", hundred, 1, 100},
		{"p99 of 10 is the largest: nearest rank rounds up", hundred[:10], 0.99, 10},
		{"the median of an even count is the lower middle", hundred[:4], 0.5, 2},
		{"a tiny p is the smallest", hundred, 0.001, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d latencies, %v) = %v ms, want %v ms", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestParseLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "1,8,32,64", want: []int{1, 8, 32, 64}},
		{in: " 8 , 1 ", want: []int{8, 1}},
		{in: "256", want: []int{256}},
		{in: "", wantErr: true},
		{in: "1,,8", wantErr: true},
		{in: "0", wantErr: true},
		{in: "257", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "eight", wantErr: true},
		{in: "8,8", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseLevels(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseLevels(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("parseLevels(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseFlagsSigninLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"sign-ins follow the default levels", nil, "[1 8 32 64]"},
		{"sign-ins follow -concurrency", []string{"-concurrency", "2,4"}, "[2 4]"},
		{"the deprecated -signin-clients picks one level", []string{"-concurrency", "2,4", "-signin-clients", "8"}, "[8]"},
		{"-signin-clients 0 skips sign-ins", []string{"-signin-clients", "0"}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseFlags(append([]string{"-bin", "/bin/true"}, tt.args...))
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(c.signinLevels); got != tt.want {
				t.Errorf("sign-in levels = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseFlagsSoakSignins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		want    int
		wantErr bool
	}{
		{args: []string{"-soak", "1m"}, want: 2},
		{args: []string{"-soak", "1m", "-soak-signin-clients", "0"}, want: 0},
		{args: []string{"-soak", "1m", "-soak-signin-clients", "8"}, want: 8},
		{args: []string{"-soak", "1m", "-soak-signin-clients", "-1"}, wantErr: true},
		{args: []string{"-soak", "1m", "-soak-signin-clients", "257"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			c, err := parseFlags(append([]string{"-bin", "/bin/true"}, tt.args...))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseFlags accepted %v", tt.args)
				}
				return
			}
			if err != nil || c.soakSignins != tt.want {
				t.Errorf("sign-in clients = %d, %v; want %d", c.soakSignins, err, tt.want)
			}
		})
	}
}

func TestFailuresTellStatusFromTransport(t *testing.T) {
	t.Parallel()
	var f failures
	f.add(fmt.Errorf("refresh: %w", &statusError{step: "token endpoint", code: 400, detail: "invalid_grant"}))
	f.add(errors.New("token endpoint: connection refused"))
	f.add(&statusError{step: "authorize (the dev page)", code: 503})
	var g failures
	g.add(errors.New("read: connection reset"))
	f.merge(g)
	if f.status != 2 || f.transport != 2 || f.total() != 4 {
		t.Errorf("counted %d non-2xx and %d transport, want 2 and 2", f.status, f.transport)
	}
	if want := "refresh: token endpoint answered 400 invalid_grant"; f.first != want {
		t.Errorf("first = %q, want %q", f.first, want)
	}
}
