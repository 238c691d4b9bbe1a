package configs

import (
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/azure"
	"github.com/socialbridge/socialbridge/providers/dev"
	"github.com/socialbridge/socialbridge/providers/facebook"
	"github.com/socialbridge/socialbridge/providers/google"
	"github.com/socialbridge/socialbridge/providers/oidc"
)

// testTypes are the provider types the tests load configurations with.
func testTypes() []providers.Type {
	return []providers.Type{google.Type(), azure.Type(), facebook.Type(), oidc.Type(), dev.Type()}
}

// instanceOf returns the provider instance called name, adding one of the
// type of that name when the configuration has none.
func instanceOf(c *Config, name string) *ProviderInstance {
	for i := range c.Providers.Instances {
		if c.Providers.Instances[i].Name == name {
			return &c.Providers.Instances[i]
		}
	}
	inst := ProviderInstance{Name: name, ProviderCommon: ProviderCommon{Type: name}}
	for _, t := range testTypes() {
		if t.Name == name {
			inst.Settings = t.NewSettings()
		}
	}
	c.Providers.Instances = append(c.Providers.Instances, inst)
	return &c.Providers.Instances[len(c.Providers.Instances)-1]
}

// googleOf returns the settings of the google instance, adding one when
// the configuration has none.
func googleOf(c *Config) *google.Settings {
	return instanceOf(c, "google").Settings.(*google.Settings)
}
