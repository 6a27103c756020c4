// Package resources is Sandstorm's MCP resource surface: the status, session
// list and session log of each sandbox as resources, the list of sandboxes in
// resources/list, and the subscriptions that tell clients when any of them
// changes.
//
// mcp-go acknowledges resources/subscribe and subscriptions/listen but records
// neither, so this package keeps its own registry, filled from server hooks,
// and sends notifications/resources/updated itself. A Poller watches only what
// some client subscribed to: it polls a sandbox's status every second, and
// follows its sessions with one long-waiting exec per sandbox
// that returns when a session's log grows or its state changes. Changes the
// Manager makes reach it through Manager.OnChange.
//
// The package does not own the Manager or the MCP server. Known limitations:
//   - An error from a read handler, such as an unknown sandbox, reaches the
//     client as an internal error (-32603) with the Manager's message: mcp-go
//     v1.2.1 lets no handler choose the code. Only a URI that matches no
//     template gets "resource not found".
//   - A change between a subscription and the first reading after it (one or
//     two Fly requests later) is not reported.
//   - Sandboxes and sessions that another server process creates, sharing
//     the store, are not announced: resources/list learns of them at restart,
//     and a sessions subscription when this process next lists the sessions.
//   - While a subscribed log grows without pause, its sandbox spends one exec
//     a second, Fly's steady exec budget per machine, on watching it.
package resources
