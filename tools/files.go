package tools

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/longrun/sandstorm"
)

type writeFileArgs struct {
	Sandbox  string `json:"sandbox" jsonschema:"required,description=Name of a running sandbox."`
	Path     string `json:"path" jsonschema:"required,description=Absolute path of the file such as /data/project/main.go. Parent directories are created."`
	Content  string `json:"content" jsonschema:"required,description=The file's content: text or base64 as encoding says. Up to 32 MiB decoded."`
	Encoding string `json:"encoding,omitempty" jsonschema:"enum=text,enum=base64,description=How content is encoded. Default text (UTF-8)."`
	Mode     string `json:"mode,omitempty" jsonschema:"pattern=^[0-7]{3\\,4}$,description=Octal permission bits such as 644 or 755. Default 644."`
}

// WriteFile is sandbox_write_file.
func WriteFile(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_write_file", "Write file in sandbox",
		"Write a file in a running sandbox with exactly the given bytes, replacing any "+
			"existing file atomically. Returns its size and SHA-256.",
		hints{destructive: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a writeFileArgs) (any, string, error) {
			content, err := decodeContent(a.Content, a.Encoding)
			if err != nil {
				return nil, "", err
			}
			var mode uint64
			if a.Mode != "" {
				if mode, err = strconv.ParseUint(a.Mode, 8, 32); err != nil {
					return nil, "", &sandstorm.Error{Kind: sandstorm.ErrInvalidInput,
						Message: fmt.Sprintf("mode %q is not octal", a.Mode),
						Advice:  "Use octal permission bits such as 644 or 755."}
				}
			}
			fi, err := m.WriteFile(ctx, sandstorm.WriteFileRequest{Sandbox: a.Sandbox,
				Path: a.Path, Content: content, Mode: uint32(mode)})
			if err != nil {
				return nil, "", err
			}

			return fi, fmt.Sprintf("Wrote %d bytes to %s.", fi.Size, fi.Path), nil
		})
}

func decodeContent(content, encoding string) ([]byte, error) {
	switch encoding {
	case "", "text":
		return []byte(content), nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, &sandstorm.Error{Kind: sandstorm.ErrInvalidInput,
				Message: "content is not valid base64: " + err.Error(),
				Advice:  "Encode the bytes with standard base64 (RFC 4648, with padding)."}
		}

		return b, nil
	default:
		return nil, &sandstorm.Error{Kind: sandstorm.ErrInvalidInput,
			Message: fmt.Sprintf("encoding %q is not supported", encoding),
			Advice:  "Use text or base64."}
	}
}

type readFileArgs struct {
	Sandbox  string `json:"sandbox" jsonschema:"required,description=Name of a running sandbox."`
	Path     string `json:"path" jsonschema:"required,description=Absolute path of the file."`
	Offset   int64  `json:"offset,omitempty" jsonschema:"minimum=0,description=Byte offset to start reading at. Default 0."`
	MaxBytes int    `json:"max_bytes,omitempty" jsonschema:"minimum=1,maximum=4194304,description=Most bytes to return. Default 1 MiB; read the rest by offset."`
	Encoding string `json:"encoding,omitempty" jsonschema:"enum=auto,enum=text,enum=base64,description=auto (the default) returns text when the bytes are valid UTF-8 and base64 otherwise."`
}

type fileContent struct {
	*sandstorm.FileContent
	Content  string `json:"content"`
	Encoding string `json:"encoding"`
	Bytes    int    `json:"bytes"`
}

// ReadFile is sandbox_read_file.
func ReadFile(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_read_file", "Read file in sandbox",
		"Read a file from a running sandbox, from an offset, up to max_bytes. Returns the "+
			"content, the file's total size and whether the end was reached.",
		hints{readOnly: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a readFileArgs) (any, string, error) {
			fc, err := m.ReadFile(ctx, sandstorm.ReadFileRequest{Sandbox: a.Sandbox,
				Path: a.Path, Offset: a.Offset, MaxBytes: a.MaxBytes})
			if err != nil {
				return nil, "", err
			}
			out := fileContent{FileContent: fc, Bytes: len(fc.Content)}
			switch {
			case a.Encoding == "base64" || (a.Encoding != "text" && !utf8.Valid(fc.Content)):
				out.Content, out.Encoding = base64.StdEncoding.EncodeToString(fc.Content), "base64"
			default:
				out.Content, out.Encoding = string(fc.Content), "text"
			}

			return out, fmt.Sprintf("Read %d of %d bytes of %s from offset %d.",
				out.Bytes, fc.Size, fc.Path, fc.Offset), nil
		})
}

type listFilesArgs struct {
	Sandbox string `json:"sandbox" jsonschema:"required,description=Name of a running sandbox."`
	Path    string `json:"path,omitempty" jsonschema:"description=Absolute directory to list. Default /data."`
	Depth   int    `json:"depth,omitempty" jsonschema:"minimum=1,maximum=10,description=How many levels to descend. Default 1."`
}

// ListFiles is sandbox_list_files.
func ListFiles(m *sandstorm.Manager) server.ServerTool {
	return define("sandbox_list_files", "List files in sandbox",
		"List a directory in a running sandbox to a depth, with each entry's type, size, "+
			"mode and modification time. At most 2000 entries; truncated says when more exist.",
		hints{readOnly: true, idempotent: true, openWorld: true},
		func(ctx context.Context, _ mcp.CallToolRequest, a listFilesArgs) (any, string, error) {
			dir := a.Path
			if dir == "" {
				dir = sandstorm.MountPath
			}
			l, err := m.ListFiles(ctx, a.Sandbox, dir, a.Depth)
			if err != nil {
				return nil, "", err
			}

			return l, fmt.Sprintf("%d entries under %s.", len(l.Entries), l.Path), nil
		})
}
