package flyclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

func secretsPath(app string) string {
	return "/v1/apps/" + seg(app) + "/secrets"
}

// ListSecrets lists an app's secrets by name and digest: GET
// /v1/apps/{app}/secrets. Values are not returned.
func (c *Client) ListSecrets(ctx context.Context, app string) ([]Secret, error) {
	if err := required("app name", app); err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}

	var resp SecretsResponse
	if err := c.do(ctx, c.newCall(http.MethodGet, secretsPath(app)), &resp); err != nil {
		return nil, fmt.Errorf("list secrets of app %s: %w", app, err)
	}

	return resp.Secrets, nil
}

// SetSecrets sets app secrets: POST /v1/apps/{app}/secrets with
// {"values": {...}}. It returns the new secrets version; machines see the
// values only once created or updated with at least that min_secrets_version.
// Values never reach the client's logs.
//
// It is retried after an uncertain failure: setting the same values twice
// leaves the same secrets (the version may move on by one more).
func (c *Client) SetSecrets(
	ctx context.Context,
	app string,
	values map[string]string,
) (uint64, error) {
	if len(values) == 0 {
		return 0, errors.New("set secrets: flyclient: no values given")
	}
	body := make(map[string]*string, len(values))
	for k, v := range values {
		if k == "" {
			return 0, errors.New("set secrets: flyclient: secret name is required")
		}
		body[k] = &v
	}

	version, err := c.postSecrets(ctx, app, body)
	if err != nil {
		return 0, fmt.Errorf("set secrets of app %s: %w", app, err)
	}

	return version, nil
}

// UnsetSecrets removes app secrets by name: POST /v1/apps/{app}/secrets with
// {"values": {"NAME": null}}. It returns the new secrets version, and is
// retried after an uncertain failure like SetSecrets.
func (c *Client) UnsetSecrets(ctx context.Context, app string, names ...string) (uint64, error) {
	if len(names) == 0 {
		return 0, errors.New("unset secrets: flyclient: no names given")
	}
	body := make(map[string]*string, len(names))
	for _, name := range names {
		if name == "" {
			return 0, errors.New("unset secrets: flyclient: secret name is required")
		}
		body[name] = nil
	}

	version, err := c.postSecrets(ctx, app, body)
	if err != nil {
		return 0, fmt.Errorf("unset secrets of app %s: %w", app, err)
	}

	return version, nil
}

func (c *Client) postSecrets(
	ctx context.Context,
	app string,
	values map[string]*string,
) (uint64, error) {
	if err := required("app name", app); err != nil {
		return 0, err
	}

	var resp SecretsResponse
	cl := c.newCall(http.MethodPost, secretsPath(app))
	cl.idempotent = true
	if err := cl.setJSON(SetSecretsRequest{Values: values}); err != nil {
		return 0, err
	}
	if err := c.do(ctx, cl, &resp); err != nil {
		return 0, err
	}

	return resp.Version, nil
}
