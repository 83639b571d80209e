# ullmd and ullmctl built from this repository with nixpkgs' buildDotnetModule.
# NuGet packages come from nix/deps.json (regenerate with nix/update-deps.sh).
{
  lib,
  buildDotnetModule,
  dotnetCorePackages,
  installShellFiles,
  # "unified-llm" builds both programs; "ullmctl" only the CLI, which needs no ASP.NET Core runtime.
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
  # local bin/ and obj/ folders stay out too.
  root = ../.;
  buildInputsTopLevel = [
    "Directory.Build.props"
    "Directory.Packages.props"
    "global.json"
    "daemon"
    "ctl"
    "protos"
  ];
  source = lib.cleanSourceWith {
    name = "unified-llm-source";
    src = root;
    filter =
      path: type:
      let
        relative = lib.removePrefix "${toString root}/" (toString path);
      in
      lib.elem (lib.head (lib.splitString "/" relative)) buildInputsTopLevel
      && !(type == "directory" && lib.elem (baseNameOf path) [ "bin" "obj" ]);
  };

  selected = components.${component} or (throw "nix/package.nix: unknown component \"${component}\" (expected one of: ${lib.concatStringsSep ", " (lib.attrNames components)})");
in
buildDotnetModule {
  pname = component;
  version = "0.1.0";

  src = source;

  inherit (selected) projectFile executables;
  nugetDeps = ./deps.json;
  dotnet-sdk = dotnetCorePackages.sdk_10_0;
  dotnet-runtime = selected.runtime;

  # Both components ship ullmctl; its completion scripts come from the built program itself.
  nativeBuildInputs = [ installShellFiles ];
  postInstall = ''
    installShellCompletion --cmd ullmctl \
      --bash <($out/bin/ullmctl completion bash) \
      --zsh <($out/bin/ullmctl completion zsh) \
      --fish <($out/bin/ullmctl completion fish)
  '';

  meta = {
    description = "Daemon and CLI serving local (llama.cpp, Ollama, vLLM) and cloud LLMs behind one OpenAI-compatible API";
    platforms = lib.platforms.linux;
    inherit (selected) mainProgram;
  };
}
