# Test-only stand-in for pkgs.formats.toml, which needs all of nixpkgs (it renders with a build).
# `type` accepts what the real format accepts; `generate` returns the rendered text (`text`) and a
# fake store path (`outPath`, a hash of the text) so the module can interpolate it. eval.nix checks every rendering by
# reading it back with builtins.fromTOML.
{ lib }:

let
  inherit (lib) types;

  valueType =
    types.oneOf [
      types.bool
      types.int
      types.float
      types.str
      types.path
      (types.attrsOf valueType)
      (types.listOf valueType)
    ]
    // {
      description = "TOML value";
    };

  renderKey = key: if builtins.match "[A-Za-z0-9_-]+" key != null then key else builtins.toJSON key;

  # JSON strings, numbers and booleans are valid TOML; attribute sets inside arrays become inline tables.
  renderInline =
    value:
    if builtins.isAttrs value then
      "{ ${lib.concatStringsSep ", " (lib.mapAttrsToList (key: item: "${renderKey key} = ${renderInline item}") value)} }"
    else if builtins.isList value then
      "[${lib.concatMapStringsSep ", " renderInline value}]"
    else if builtins.isPath value then
      builtins.toJSON (toString value)
    else
      builtins.toJSON value;

  # Scalars and arrays first, then one [table] per nested attribute set (TOML needs that order).
  renderTable =
    path: attrs:
    let
      isTable = value: builtins.isAttrs value;
      scalars = lib.filterAttrs (_: value: !isTable value) attrs;
      tables = lib.filterAttrs (_: isTable) attrs;
      header = lib.optionalString (path != [ ]) "[${lib.concatMapStringsSep "." renderKey path}]\n";
      body = lib.concatStrings (lib.mapAttrsToList (key: value: "${renderKey key} = ${renderInline value}\n") scalars);
    in
    lib.concatStringsSep "\n" (
      lib.filter (part: part != "") (
        [ (header + body) ] ++ lib.mapAttrsToList (key: value: renderTable (path ++ [ key ]) value) tables
      )
    );
in
{
  type = types.attrsOf valueType;
  # The store path depends on the text, as a real one does (a changed setting is a new file).
  generate =
    name: value:
    let
      text = renderTable [ ] value;
    in
    {
      inherit name text;
      outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" text)}-${name}";
    };
}
