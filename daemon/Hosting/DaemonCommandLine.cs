using System.CommandLine;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>ullmd's command line: run the daemon, only check a config file, or audit the host without a running daemon.</summary>
internal static class DaemonCommandLine
{
    public const int ExitConfigInvalid = 2;
    public const string DefaultConfigPath = "/etc/unified-llm/config.toml";

    public static RootCommand Build()
    {
        var configOption = new Option<string>("--config", "-c")
        {
            Description = "The TOML config file (default: $ULLM_CONFIG, else " + DefaultConfigPath + ")",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ULLM_CONFIG") is { Length: > 0 } env ? env : DefaultConfigPath,
        };
        var checkOption = new Option<bool>("--check") { Description = "Validate the config, print every error with file:line:column, and exit (0 valid, 2 invalid)" };
        var doctor = DoctorCommandLine.Options();
        var root = new RootCommand("ullmd — one daemon for every model on this host: local backends as systemd units, cloud providers, one OpenAI-compatible API")
        {
            configOption,
            checkOption,
            doctor.Doctor,
            doctor.Json,
            doctor.Certificates,
            doctor.Keys,
        };
        root.SetAction(async (parse, cancellationToken) =>
        {
            var timeline = StartupTimeline.Begin();
            var path = Path.GetFullPath(parse.GetValue(configOption)!);
            if (parse.GetValue(doctor.Doctor))
            {
                return await DoctorCommandLine.RunAsync(path, doctor, parse, cancellationToken);
            }

            UllmConfig config;
            try
            {
                config = await ConfigLoader.LoadFileAsync(path, cancellationToken);
            }
            catch (ConfigException e)
            {
                foreach (var error in e.Errors)
                {
                    await Console.Error.WriteLineAsync(error.ToString());
                }

                await Console.Error.WriteLineAsync($"{path}: {e.Errors.Count} error(s)");
                return ExitConfigInvalid;
            }

            if (parse.GetValue(checkOption))
            {
                await Console.Out.WriteLineAsync($"{path}: OK ({config.Models.Count} model(s), {config.Providers.Count} provider(s), {config.Routes.Count} route(s))");

                // Not errors (the file is valid, and the same file may serve a host without systemd), but each names a
                // load that would fail under the systemd supervisor, which "systemd" asks for and "auto" takes on a host
                // booted with systemd.
                if (SupervisorSelection.NeedsSystemd(config.Server.Supervisor, SupervisorSelection.HostBootedWithSystemd))
                {
                    foreach (var warning in Supervision.BackendUnitSpec.CheckModels(config, Environment.GetEnvironmentVariable("PATH")))
                    {
                        await Console.Error.WriteLineAsync($"{path}: warning: {warning}");
                    }
                }

                return 0;
            }

            SocketScheduling.Apply(config.Server.IoScheduling);
            timeline.Mark("config");
            return await DaemonHost.RunAsync(config, timeline, cancellationToken);
        });
        return root;
    }
}
