package configs

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The production example under deploy/ is a working configuration: it
// loads and validates once its secret files exist.
func TestTheProductionExampleLoads(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../deploy/socialbridge.production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("s3cret-", 6)
	c, err := loadYAML(t, strings.ReplaceAll(string(raw), "/run/secrets/", "$DIR/"), nil, map[string]string{
		"mongodb_uri":          "mongodb://db1.internal:27017,db2.internal:27017/?replicaSet=rs0",
		"encryption_key":       testKey,
		"admin_token":          secret,
		"google_client_secret": secret,
		"azure_client_secret":  secret,
		"api_client_secret":    secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeProduction || c.Store.MongoDBURI == "" || !c.ProviderEnabled("google") || !c.ProviderEnabled("azure") ||
		!slices.Equal(clientIDs(c), []string{"web", "mobile", "api", "socialbridge-account"}) {
		t.Errorf("mode %q, MongoDB %v, providers google %v azure %v, clients %v",
			c.Mode, c.Store.MongoDBURI != "", c.ProviderEnabled("google"), c.ProviderEnabled("azure"), clientIDs(c))
	}
}

// compose.yaml runs the production example: every secret file the example
// reads is a compose secret (mounted at /run/secrets/<name>), the config is
// mounted where the command reads it, and Prometheus scrapes the port the
// metrics listener is given.
func TestComposeRunsTheProductionExample(t *testing.T) {
	t.Parallel()
	var compose struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Secrets     []string          `yaml:"secrets"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	readYAML(t, "../compose.yaml", &compose)
	sb, ok := compose.Services["socialbridge"]
	if !ok {
		t.Fatal("compose.yaml has no socialbridge service")
	}
	prod, err := os.ReadFile("../deploy/socialbridge.production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(prod), "\n") {
		_, path, found := strings.Cut(line, "/run/secrets/")
		if !found {
			continue
		}
		name := strings.TrimSpace(path)
		if !slices.Contains(sb.Secrets, name) || compose.Secrets[name].File == "" {
			t.Errorf("the production example reads /run/secrets/%s, which compose.yaml does not provide", name)
		}
	}
	config := sb.Command[len(sb.Command)-1]
	if !slices.ContainsFunc(sb.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+config+":ro") }) {
		t.Errorf("the command reads %s, which no volume mounts: %v", config, sb.Volumes)
	}
	var prom struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "../deploy/prometheus.yml", &prom)
	_, port, _ := strings.Cut(sb.Environment["SOCIALBRIDGE_METRICS_ADDR"], ":")
	if len(prom.ScrapeConfigs) == 0 || len(prom.ScrapeConfigs[0].StaticConfigs) == 0 ||
		!slices.Contains(prom.ScrapeConfigs[0].StaticConfigs[0].Targets, "socialbridge:"+port) {
		t.Errorf("Prometheus scrapes %+v, want socialbridge:%s (SOCIALBRIDGE_METRICS_ADDR)", prom.ScrapeConfigs, port)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
