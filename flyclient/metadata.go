package flyclient

import (
	"context"
	"fmt"
	"net/http"
)

func metadataPath(app, id string) string {
	return machinePath(app, id) + "/metadata"
}

// GetMetadata returns a machine's metadata: GET
// /v1/apps/{app}/machines/{id}/metadata. The same map is in config.metadata.
func (c *Client) GetMetadata(ctx context.Context, app, id string) (map[string]string, error) {
	if err := required("app name", app, "machine id", id); err != nil {
		return nil, fmt.Errorf("get metadata: %w", err)
	}

	md := map[string]string{}
	if err := c.do(ctx, c.newCall(http.MethodGet, metadataPath(app, id)), &md); err != nil {
		return nil, fmt.Errorf("get metadata of machine %s: %w", id, err)
	}

	return md, nil
}

// SetMetadata sets one metadata key of a machine: POST
// /v1/apps/{app}/machines/{id}/metadata/{key} with {"value": value}. It does
// not reboot the machine and needs no lease nonce. It is retried after an
// uncertain failure: setting a key twice to one value is harmless.
func (c *Client) SetMetadata(ctx context.Context, app, id, key, value string) error {
	if err := required("app name", app, "machine id", id, "metadata key", key); err != nil {
		return fmt.Errorf("set metadata: %w", err)
	}

	cl := c.newCall(http.MethodPost, metadataPath(app, id)+"/"+seg(key))
	cl.idempotent = true
	if err := cl.setJSON(map[string]string{"value": value}); err != nil {
		return fmt.Errorf("set metadata %s of machine %s: %w", key, id, err)
	}
	if err := c.do(ctx, cl, nil); err != nil {
		return fmt.Errorf("set metadata %s of machine %s: %w", key, id, err)
	}

	return nil
}

// DeleteMetadata removes one metadata key of a machine: DELETE
// /v1/apps/{app}/machines/{id}/metadata/{key}. A retry that finds the key
// already gone counts as success.
func (c *Client) DeleteMetadata(ctx context.Context, app, id, key string) error {
	if err := required("app name", app, "machine id", id, "metadata key", key); err != nil {
		return fmt.Errorf("delete metadata: %w", err)
	}

	cl := c.newCall(http.MethodDelete, metadataPath(app, id)+"/"+seg(key))
	cl.goneIsDone = true
	if err := c.do(ctx, cl, nil); err != nil {
		return fmt.Errorf("delete metadata %s of machine %s: %w", key, id, err)
	}

	return nil
}
