// Package persona loads the files that configure a coding agent in a sandbox (CLAUDE.md,
// .claude/settings.json, .claude/agents/*.md and the like) and fills their {{key}}
// placeholders from variables. It owns reading and validating a persona and substituting
// its placeholders; it does not decide where the files go inside a sandbox (package agents
// does) and it does not deploy them (the Manager does).
//
// A persona comes from a directory on the server host ([LoadDir]) or from memory ([Files]);
// either way [Resolve] checks it against the same rules. Paths are clean, relative,
// slash-separated UTF-8 of at most 4096 bytes, never absolute, never climbing out with
// "..". A persona holds at most [MaxFiles] files of at most [MaxFileSize] bytes each and
// [MaxTotalSize] bytes in all, before and after substitution. Symlinks are followed only
// while they resolve inside the persona directory.
//
// A placeholder is {{key}} or {{ key }}, the key matching [A-Za-z_][A-Za-z0-9_.-]*. Write
// {{{{ for a literal {{ (see [Escape]); no other sequence is special. Braces that do not
// form a placeholder, such as Go's {{ .Name }} or {{#each}}, are kept as they are.
//
// Known limitations: file modes are not kept, so a hook script loses its executable bit;
// empty directories are dropped; every regular file is read, a .git directory included;
// content is treated as text, so a binary file that happens to contain a placeholder is
// rewritten.
package persona
