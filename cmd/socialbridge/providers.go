package main

import (
	"fmt"
	"net/http"

	"github.com/socialbridge/socialbridge/configs"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/azure"
	"github.com/socialbridge/socialbridge/providers/dev"
	"github.com/socialbridge/socialbridge/providers/facebook"
	"github.com/socialbridge/socialbridge/providers/google"
	"github.com/socialbridge/socialbridge/providers/oidc"
)

// providerTypes is the registry of provider types: adding one is its
// package and one line here.
func providerTypes() []providers.Type {
	return []providers.Type{
		google.Type(),
		azure.Type(),
		facebook.Type(),
		oidc.Type(),
		dev.Type(),
	}
}

// builtProviders are the enabled provider instances, ready for the bridge.
type builtProviders struct {
	list   []providers.Provider
	labels map[string]string
	// linkByEmail are the instances trusted for automatic linking.
	linkByEmail []string
	// mounts are the providers' own HTTP handlers (the dev provider's page).
	mounts map[string]http.Handler
}

// buildProviders creates the enabled provider instances.
func buildProviders(cfg *configs.Config, types []providers.Type) (*builtProviders, error) {
	out := &builtProviders{labels: map[string]string{}, mounts: map[string]http.Handler{}}
	for _, inst := range cfg.EnabledProviders() {
		var typ *providers.Type
		for i := range types {
			if types[i].Name == inst.Type {
				typ = &types[i]
			}
		}
		if typ == nil {
			return nil, fmt.Errorf("providers.%s.type: unknown provider type %q", inst.Name, inst.Type)
		}
		p, err := typ.New(providers.Instance{Name: inst.Name, PublicURL: cfg.Server.PublicURL}, inst.Settings)
		if err != nil {
			return nil, fmt.Errorf("providers.%s: %w", inst.Name, err)
		}
		out.list = append(out.list, p)
		if inst.LinkByEmail {
			out.linkByEmail = append(out.linkByEmail, inst.Name)
		}
		out.labels[inst.Name] = inst.DisplayName
		if out.labels[inst.Name] == "" {
			out.labels[inst.Name] = typ.Label
		}
		if m, ok := p.(providers.Mounter); ok {
			prefix, h := m.Routes()
			out.mounts[prefix] = h
		}
	}
	return out, nil
}
