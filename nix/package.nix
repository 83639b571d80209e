# ullmd and ullmctl built from this repository with nixpkgs' buildDotnetModule.
# NuGet packages come from nix/deps.json (regenerate with nix/update-deps.sh).
{
  lib,
  stdenv,
  buildDotnetModule,
  dotnetCorePackages,
  installShellFiles,
  clang,
  zlib,
  # "unified-llm" builds both programs; "ullmctl" only the CLI. Both are self-contained native executables.
  component ? "unified-llm",
}:

let
  components = {
    unified-llm = {
      projectFile = [
        "daemon/Ullmd.csproj"
        "ctl/Ullmctl.csproj"
      ];
      executables = [
        "ullmd"
        "ullmctl"
      ];
      runtime = dotnetCorePackages.aspnetcore_10_0;
      mainProgram = "ullmd";
    };
    ullmctl = {
      projectFile = "ctl/Ullmctl.csproj";
      executables = [ "ullmctl" ];
      runtime = dotnetCorePackages.runtime_10_0;
      mainProgram = "ullmctl";
    };
  };

  # Only what the build reads, so editing docs, tests or packaging does not rebuild the package;
  # local bin/ and obj/ folders stay out too. .editorconfig carries the analyzer rule settings that
  # TreatWarningsAsErrors builds against (without it the Release build fails on CA18xx rules).
  # Written with builtins only: tests/nix/source-set-build.sh evaluates `src` of this file without
  # nixpkgs, copies exactly what it admits to an empty directory and runs the Release build there.
  root = ../.;
  buildInputsTopLevel = [
    ".editorconfig"
    "Directory.Build.props"
    "Directory.Packages.props"
    "global.json"
    "daemon"
    "ctl"
    "protos"
  ];
  rootPrefix = "${toString root}/";
  topLevelOf =
    path:
    let
      relative = builtins.substring (builtins.stringLength rootPrefix) (-1) (toString path);
    in
    builtins.head (builtins.match "([^/]*).*" relative);
  source = builtins.path {
    name = "unified-llm-source";
    path = root;
    filter =
      path: type:
      builtins.elem (topLevelOf path) buildInputsTopLevel
      && !(type == "directory" && builtins.elem (baseNameOf path) [ "bin" "obj" ]);
  };

  selected = components.${component} or (throw "nix/package.nix: unknown component \"${component}\" (expected one of: ${builtins.concatStringsSep ", " (builtins.attrNames components)})");
in
buildDotnetModule {
  pname = component;
  version = "0.1.0";

  src = source;

  inherit (selected) projectFile executables;
  nugetDeps = ./deps.json;
  dotnet-sdk = dotnetCorePackages.sdk_10_0;
  dotnet-runtime = selected.runtime;

  # ullmd and ullmctl are published with Native AOT (PublishAot in daemon/Ullmd.csproj and
  # ctl/Ullmctl.csproj): the ILCompiler packages come from deps.json, and the native link runs clang
  # against zlib. A framework-dependent buildDotnetModule publishes with -p:PublishTrimmed=false, which
  # native compilation refuses ("PublishTrimmed is implied by native compilation"), so the build is
  # self-contained: each program is one native executable that needs no dotnet-runtime.
  selfContainedBuild = true;
  buildInputs = [ zlib ];

  # Both components ship ullmctl; its completion scripts come from the built program itself. The
  # $out/bin wrappers exist only after dotnetFixupHook (fixup phase), so this runs in postFixup, and
  # only where the build machine can run what it built (not when cross-compiling).
  nativeBuildInputs = [
    installShellFiles
    clang
  ];
  postFixup = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd ullmctl \
      --bash <($out/bin/ullmctl completion bash) \
      --zsh <($out/bin/ullmctl completion zsh) \
      --fish <($out/bin/ullmctl completion fish)
  '';

  meta = {
    description = "Daemon and CLI serving local (llama.cpp, Ollama, vLLM) and cloud LLMs behind one OpenAI-compatible API";
    platforms = lib.platforms.linux;
    maintainers = [ (import ./maintainers.nix).unified-llm ];
    inherit (selected) mainProgram;
  };
}
