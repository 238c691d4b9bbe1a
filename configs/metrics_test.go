package configs

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestMetricsAddrDefaultsToLoopbackAndCanBeMovedOrTurnedOff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string // "" loads without a file (dev mode)
		env  map[string]string
		want string
	}{
		{"dev mode serves them on loopback by default", "", nil, "127.0.0.1:9464"},
		{"production too", productionYAML, nil, "127.0.0.1:9464"},
		{"the file moves them", productionYAML + "metrics:\n  addr: \":9100\"\n", nil, ":9100"},
		{"an empty address in the file turns them off", productionYAML + "metrics:\n  addr: \"\"\n", nil, ""},
		{"off in the file turns them off", productionYAML + "metrics:\n  addr: \"off\"\n", nil, ""},
		{"the environment moves them", "", map[string]string{"SOCIALBRIDGE_METRICS_ADDR": "127.0.0.1:0"}, "127.0.0.1:0"},
		{"the environment overrides the file", productionYAML + "metrics:\n  addr: \":9100\"\n",
			map[string]string{"SOCIALBRIDGE_METRICS_ADDR": "127.0.0.1:9200"}, "127.0.0.1:9200"},
		{"off in the environment turns them off", "", map[string]string{"SOCIALBRIDGE_METRICS_ADDR": "OFF"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}
			for k, v := range tt.env {
				env[k] = v
			}
			var c *Config
			var err error
			if tt.yaml == "" {
				delete(env, "SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY")
				env["SOCIALBRIDGE_DATA_DIR"] = t.TempDir()
				c, err = Load("", fakeEnv(env), os.ReadFile, testTypes())
			} else {
				c, err = loadYAML(t, tt.yaml, env, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.MetricsAddr(); got != tt.want {
				t.Errorf("MetricsAddr() = %q, want %q", got, tt.want)
			}
			wantSummary := "metrics " + tt.want
			if tt.want == "" {
				wantSummary = "metrics off"
			}
			if !strings.Contains(summaryText(c), wantSummary) {
				t.Errorf("Summary() = %s, want it to say %q", summaryText(c), wantSummary)
			}
		})
	}
}

func TestMetricsAddrMustBeAListenAddressOfItsOwn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		server  string
		metrics string
		want    string // "" for no error
	}{
		{"not host:port", ":8080", "9464", `metrics.addr: must be host:port with a numeric port`},
		{"a port that is not a number", ":8080", "127.0.0.1:metrics", `metrics.addr: must be host:port`},
		{"the public listener's address", ":8080", ":8080", "metrics.addr: must differ from server.addr (:8080)"},
		{"the public port on every interface", "127.0.0.1:8080", "0.0.0.0:8080", "metrics.addr: must differ from server.addr"},
		{"the public port on another interface is fine", "10.0.0.1:8080", "127.0.0.1:8080", ""},
		{"another port is fine", ":8080", ":9464", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadYAML(t, productionYAML, map[string]string{
				"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey,
				"SOCIALBRIDGE_SERVER_ADDR":           tt.server,
				"SOCIALBRIDGE_METRICS_ADDR":          tt.metrics,
			}, nil)
			var wants []string
			if tt.want != "" {
				wants = []string{tt.want}
			}
			checkLoadErr(t, err, wants)
		})
	}
}

func TestSetMetricsAddrRecordsWhereTheyAreServed(t *testing.T) {
	t.Parallel()
	c, err := Load("", fakeEnv(map[string]string{"SOCIALBRIDGE_DATA_DIR": t.TempDir(), "SOCIALBRIDGE_METRICS_ADDR": "127.0.0.1:0"}), os.ReadFile, testTypes())
	if err != nil {
		t.Fatal(err)
	}
	c.SetMetricsAddr("127.0.0.1:40123")
	if got := c.MetricsAddr(); got != "127.0.0.1:40123" {
		t.Errorf("after SetMetricsAddr, MetricsAddr() = %q", got)
	}
	c.SetMetricsAddr("")
	if got := c.MetricsAddr(); got != "" || !strings.Contains(summaryText(c), "metrics off") {
		t.Errorf("after SetMetricsAddr(\"\"), MetricsAddr() = %q, Summary %s; want off", got, summaryText(c))
	}
}

// summaryText joins Summary's key/value pairs as " key value" words.
func summaryText(c *Config) string {
	var b strings.Builder
	s := c.Summary()
	for i := 0; i+1 < len(s); i += 2 {
		fmt.Fprintf(&b, " %v %v", s[i], s[i+1])
	}
	return b.String()
}
