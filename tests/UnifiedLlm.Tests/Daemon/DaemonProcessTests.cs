using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Daemon;

/// <summary>A real ullmd process on temporary sockets, driven by the real ullmctl binary.</summary>
[Collection(nameof(DaemonProcessTests))]
public sealed class DaemonProcessTests : IDisposable
{
    private readonly TempDirectory dir = new("ullmd-it");

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task Ullmd_notifies_ready_with_status_and_ullmctl_status_answers_over_the_admin_socket()
    {
        var paths = DaemonProcess.WriteConfig(dir, ModelSection("tiny"));
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);

        var status = await daemon.Notify.WaitForAsync("STATUS=", TimeSpan.FromSeconds(30));
        Assert.Contains(paths.OpenAiSocket, status);
        Assert.Contains("1 model(s)", status);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, File.GetUnixFileMode(paths.AdminSocket));
        Assert.Equal((UnixFileMode)Convert.ToInt32("666", 8), File.GetUnixFileMode(paths.OpenAiSocket));

        var table = await daemon.CtlAsync("status");
        Assert.Equal(0, table.ExitCode);
        Assert.Matches(@"^ullmd \d+\.\d+\.\d+, up ", table.StandardOutput);
        Assert.Contains($"config      {paths.ConfigFile}", table.StandardOutput);
        Assert.Contains("models      1 configured, 0 loaded", table.StandardOutput);
        Assert.Matches($@"(?m)^admin-unix +{Regex.Escape(paths.AdminSocket)} +0660 +ullm-admin$", table.StandardOutput);
        Assert.Matches($@"(?m)^openai-unix +{Regex.Escape(paths.OpenAiSocket)} +0666$", table.StandardOutput);

        var json = await daemon.CtlAsync("status", "--json");
        Assert.Equal(0, json.ExitCode);
        using var doc = JsonDocument.Parse(json.StandardOutput);
        Assert.Equal(paths.ConfigFile, doc.RootElement.GetProperty("configPath").GetString());
        Assert.Equal(1, doc.RootElement.GetProperty("configuredModels").GetInt32());
        Assert.Equal(
            ["openai-unix", "admin-unix"],
            doc.RootElement.GetProperty("listeners").EnumerateArray().Select(l => l.GetProperty("name").GetString()));

        Assert.Equal(0, await daemon.StopAsync());
        await daemon.Notify.WaitForAsync("STOPPING=1", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task When_ready_ullmd_logs_where_its_start_went_phase_by_phase_in_wall_and_cpu_time()
    {
        var paths = DaemonProcess.WriteConfig(dir, ModelSection("tiny"));
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);

        var line = await WaitForLineAsync(daemon, "Ready ", TimeSpan.FromSeconds(30));
        var ready = Regex.Match(line, @"Ready (?<ms>\d+) ms after exec, (?<cpu>\d+) ms of CPU: (?<phases>.*)$");
        Assert.True(ready.Success, line);
        var phases = Regex.Matches(ready.Groups["phases"].Value, @"(?<name>[a-z ]+) (?<ms>\d+) ms \(CPU (?<cpu>\d+)\)(, |$)")
            .Select(m => (Name: m.Groups["name"].Value, Ms: int.Parse(m.Groups["ms"].Value, CultureInfo.InvariantCulture), Cpu: int.Parse(m.Groups["cpu"].Value, CultureInfo.InvariantCulture)))
            .ToList();

        Assert.Equal(
            ["runtime and command line", "config", "logging", "database", "supervisor", "host build", "services and listeners"],
            phases.Select(p => p.Name));
        // Each figure is rounded on its own: the phases add up to the totals within a millisecond each.
        var (total, cpu) = (int.Parse(ready.Groups["ms"].Value, CultureInfo.InvariantCulture), int.Parse(ready.Groups["cpu"].Value, CultureInfo.InvariantCulture));
        Assert.InRange(phases.Sum(p => p.Ms), total - phases.Count, total + phases.Count);
        Assert.InRange(phases.Sum(p => p.Cpu), cpu - phases.Count, cpu + phases.Count);
        Assert.True(phases[0].Ms > 0 && cpu > 0, line);
    }

    private static async Task<string> WaitForLineAsync(DaemonProcess daemon, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (daemon.Output.Split('\n').FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line)
            {
                return line.TrimEnd('\r');
            }

            Assert.True(DateTime.UtcNow < deadline, $"ullmd logged no line with '{text}' within {timeout}:\n{daemon.Output}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Started_from_the_root_directory_like_a_service_it_watches_no_files()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths, workingDirectory: "/");
        using var http = UnixHttp.To(paths.OpenAiSocket);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(new Uri("http://ullmd/health"))).StatusCode);

        // The web host's defaults watched the working directory recursively for appsettings.json: from / that was an
        // inotify watch on every directory of the host (17,097 here) and CPU on every file written anywhere.
        var inotify = Directory.GetFiles($"/proc/{daemon.Pid}/fd")
            .Select(fd => new FileInfo(fd).LinkTarget)
            .Count(target => target == "anon_inode:inotify");

        Assert.Equal(0, inotify);
    }

    [Fact]
    public async Task The_openai_socket_serves_health_and_never_the_admin_api()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        using var http = UnixHttp.To(paths.OpenAiSocket);

        var health = await http.GetAsync(new Uri("http://ullmd/health"));
        var admin = await http.PostAsync(new Uri("http://ullmd/ullm.admin.v1.Admin/Status"), new ByteArrayContent([]));

        Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("{\"status\":\"ok\"}", await health.Content.ReadAsStringAsync());
        Assert.Equal(System.Net.HttpStatusCode.NotFound, admin.StatusCode);
    }

    [Fact]
    public async Task A_user_outside_the_admin_group_is_refused_and_told_which_group_to_join()
    {
        var paths = DaemonProcess.WriteConfig(dir, serverExtra: "admin_group = \"nogroup\"");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        // Open the socket's file mode so the daemon's own SO_PEERCRED check is what refuses the caller.
        File.SetUnixFileMode(paths.AdminSocket, (UnixFileMode)Convert.ToInt32("666", 8));
        OpenPathForOthers(dir.Path);

        var outsider = await AsUser(65533, 65533, "status", "--socket", paths.AdminSocket);
        var member = await AsUser(65533, 65534, "status", "--socket", paths.AdminSocket);

        Assert.Equal(4, outsider.ExitCode);
        Assert.Contains("uid 65533 may not use the admin API: run as root or join the 'nogroup' group", outsider.StandardError);
        Assert.Equal(0, member.ExitCode);
        Assert.Contains("ullmd ", member.StandardOutput);
    }

    [Fact]
    public async Task The_socket_file_mode_keeps_non_members_out_and_ullmctl_says_so()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        OpenPathForOthers(dir.Path);

        var result = await AsUser(65533, 65533, "status", "--socket", paths.AdminSocket);

        Assert.Equal(4, result.ExitCode);
        Assert.Equal($"ullmctl: permission denied on {paths.AdminSocket}: run as root or as a member of ullmd's admin group (server.admin_group, default 'ullm-admin')\n", result.StandardError);
    }

    [Fact]
    public async Task Ullmctl_says_when_ullmd_is_not_running()
    {
        var result = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["status", "--socket", dir.File("absent.sock")]);

        Assert.Equal(3, result.ExitCode);
        Assert.Contains($"ullmd is not running (nothing listens on {dir.File("absent.sock")}); start it with", result.StandardError);
    }

    [Fact]
    public async Task A_stale_socket_from_a_crashed_run_is_replaced_but_a_live_one_is_not()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        await using (var crashed = await DaemonProcess.StartAsync(dir, paths))
        {
            Signals.Send(crashed.Pid, Signals.Kill);
            await crashed.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.True(Path.Exists(paths.AdminSocket), "SIGKILL should have left the admin socket file behind");
        Assert.True(Path.Exists(paths.OpenAiSocket), "SIGKILL should have left the OpenAI socket file behind");
        await using var restarted = await DaemonProcess.StartAsync(dir, paths);
        Assert.Equal(0, (await restarted.CtlAsync("status")).ExitCode);

        var second = await ProcessRunner.UllmdAsync(["--config", paths.ConfigFile], timeout: TimeSpan.FromSeconds(60));

        Assert.Equal(1, second.ExitCode);
        Assert.Contains($"{paths.OpenAiSocket} is in use by a running process (another ullmd?); stop it first", second.StandardOutput + second.StandardError);
        Assert.Equal(0, (await restarted.CtlAsync("status")).ExitCode);
    }

    [Fact]
    public async Task A_regular_file_at_the_socket_path_is_never_deleted()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        dir.Write("run/openai.sock", "precious");

        var result = await ProcessRunner.UllmdAsync(["--config", paths.ConfigFile], timeout: TimeSpan.FromSeconds(60));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"{paths.OpenAiSocket} exists and is not a socket; refusing to replace it", result.StandardOutput + result.StandardError);
        Assert.Equal("precious", await File.ReadAllTextAsync(paths.OpenAiSocket));
    }

    [Fact]
    public async Task Check_prints_every_error_with_its_location_and_exits_2()
    {
        var config = dir.Write("bad.toml", "[server]\ndata_dir = \"rel\"\nbogus = true\n[models.m]\nbackend = \"llamacp\"\nsource = \"/m.gguf\"\n");

        var result = await ProcessRunner.UllmdAsync(["--config", config, "--check"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal(
            $"{config}:2:1: server.data_dir: 'rel' must be an absolute path\n"
            + $"{config}:3:1: server.bogus: unknown key\n"
            + $"{config}:5:1: models.m.backend: 'llamacp' is not one of 'llamacpp', 'ollama', 'vllm' (did you mean 'llamacpp'?)\n"
            + $"{config}: 3 error(s)\n",
            result.StandardError);
    }

    [Fact]
    public async Task Check_accepts_the_shipped_example()
    {
        var example = RepoPaths.InRepo("packaging", "config.example.toml");

        var result = await ProcessRunner.UllmdAsync(["--config", example, "--check"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal($"{example}: OK (3 model(s), 1 provider(s), 1 route(s))\n", result.StandardOutput);
    }

    [Fact]
    public async Task A_corrupt_database_stops_ullmd_with_a_clear_error_and_keeps_the_file()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        dir.Write("data/ullm.db", "this is not sqlite, but someone's data");

        var result = await ProcessRunner.UllmdAsync(["--config", paths.ConfigFile], timeout: TimeSpan.FromSeconds(60));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("is not a usable SQLite database", result.StandardOutput + result.StandardError);
        Assert.Equal("this is not sqlite, but someone's data", await File.ReadAllTextAsync(Path.Combine(paths.DataDir, "ullm.db")));
    }

    [Fact]
    public async Task Reload_applies_a_valid_change_and_rejects_a_broken_file_keeping_the_old_config()
    {
        var paths = DaemonProcess.WriteConfig(dir, ModelSection("a"));
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        var original = await File.ReadAllTextAsync(paths.ConfigFile);

        await File.WriteAllTextAsync(paths.ConfigFile, original + ModelSection("b"));
        var applied = await daemon.CtlAsync("reload");
        Assert.Equal(0, applied.ExitCode);
        Assert.Equal("reloaded:\n  model 'b' added\n", applied.StandardOutput);

        await File.WriteAllTextAsync(paths.ConfigFile, original + "[models.c]\nbackend = \"nope\"\nsource = \"/c.gguf\"\n");
        var rejected = await daemon.CtlAsync("reload");
        Assert.Equal(1, rejected.ExitCode);
        Assert.Contains("rejected; the previous config stays in force:", rejected.StandardOutput);
        Assert.Contains($"{paths.ConfigFile}:", rejected.StandardOutput);
        Assert.Contains("models.c.backend: 'nope' is not one of", rejected.StandardOutput);

        var models = await daemon.CtlAsync("models", "--json");
        using var doc = JsonDocument.Parse(models.StandardOutput);
        Assert.Equal(["a", "b"], doc.RootElement.GetProperty("models").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Sighup_reloads_like_ullmctl_reload_and_the_event_is_seen_by_watchers()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        var events = ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["events", "--socket", paths.AdminSocket, "--json"], timeout: TimeSpan.FromSeconds(60));
        await WaitForWatcherAsync(daemon);

        await File.AppendAllTextAsync(paths.ConfigFile, ModelSection("late"));
        Signals.Send(daemon.Pid, Signals.Hangup);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(await daemon.CtlAsync("models")).StandardOutput.Contains("late", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "SIGHUP did not reload the config within 30 s:\n" + daemon.Output);
            await Task.Delay(100);
        }

        var exitCode = await daemon.StopAsync();
        Assert.True(exitCode == 0, $"ullmd exited with {exitCode}:\n{daemon.Output}");
        var watched = await events;
        Assert.Contains("\"kind\": \"config\"", watched.StandardOutput);
        Assert.Contains("reloaded: model 'late' added", watched.StandardOutput);
    }

    [Fact]
    public async Task Api_keys_are_created_listed_and_revoked_and_the_secret_is_shown_only_once()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);

        var created = await daemon.CtlAsync("keys", "create", "--name", "ci", "--models", "tiny", "big", "--rpm", "60", "--json");
        Assert.Equal(0, created.ExitCode);
        using var doc = JsonDocument.Parse(created.StandardOutput);
        var secret = doc.RootElement.GetProperty("secret").GetString()!;
        Assert.StartsWith("ullm-", secret);

        var listed = await daemon.CtlAsync("keys", "list");
        Assert.Contains("ci ", listed.StandardOutput);
        Assert.Contains("tiny,big", listed.StandardOutput);
        Assert.DoesNotContain(secret, listed.StandardOutput);

        var duplicate = await daemon.CtlAsync("keys", "create", "--name", "ci");
        Assert.Equal(1, duplicate.ExitCode);
        Assert.Contains("an API key named 'ci' already exists", duplicate.StandardError);

        Assert.Equal(0, (await daemon.CtlAsync("keys", "revoke", "ci")).ExitCode);
        Assert.Equal("no API keys\n", (await daemon.CtlAsync("keys", "list")).StandardOutput);
        var missing = await daemon.CtlAsync("keys", "revoke", "ci2");
        Assert.Equal(5, missing.ExitCode);
        Assert.Equal("ullmctl: no API key with id or name 'ci2'\n", missing.StandardError);
    }

    [Fact]
    public async Task Logs_of_a_model_that_never_ran_are_not_found_with_exit_5()
    {
        var paths = DaemonProcess.WriteConfig(dir, ModelSection("tiny"));
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);

        var result = await daemon.CtlAsync("logs", "tiny");

        Assert.Equal(5, result.ExitCode);
        Assert.Contains("'tiny' has not been started since ullmd started", result.StandardError);
        Assert.Equal("", result.StandardOutput);
    }

    [Fact]
    public async Task The_watchdog_is_pinged_when_systemd_asks_for_it()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths, new Dictionary<string, string> { ["WATCHDOG_USEC"] = "400000" });

        await daemon.Notify.WaitForAsync("WATCHDOG=1", TimeSpan.FromSeconds(10));
        var first = daemon.Notify.Received.Count(m => m == "WATCHDOG=1");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (daemon.Notify.Received.Count(m => m == "WATCHDOG=1") == first)
        {
            Assert.True(DateTime.UtcNow < deadline, "no second WATCHDOG=1 within 10 s with WATCHDOG_USEC=400000");
            await Task.Delay(50);
        }
    }

    private static string ModelSection(string name) => $"\n[models.{name}]\nbackend = \"llamacpp\"\nsource = \"/models/{name}.gguf\"\n";

    private static Task<ProcessResult> AsUser(int uid, int gid, params string[] ctlArguments) =>
        ProcessRunner.RunAsync(
            "setpriv",
            [$"--reuid={uid}", $"--regid={gid}", "--clear-groups", "--", "dotnet", RepoPaths.Ullmctl, .. ctlArguments],
            new Dictionary<string, string> { ["HOME"] = "/tmp", ["DOTNET_CLI_HOME"] = "/tmp" });

    private static void OpenPathForOthers(string path)
    {
        for (var d = new DirectoryInfo(path); d is not null && d.FullName != "/"; d = d.Parent)
        {
            File.SetUnixFileMode(d.FullName, File.GetUnixFileMode(d.FullName) | UnixFileMode.OtherExecute);
        }

        File.SetUnixFileMode(Path.Combine(path, "run"), File.GetUnixFileMode(Path.Combine(path, "run")) | UnixFileMode.OtherExecute);
    }

    private static async Task WaitForWatcherAsync(DaemonProcess daemon)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var status = JsonDocument.Parse((await daemon.CtlAsync("status", "--json")).StandardOutput);
            if (status.RootElement.TryGetProperty("eventWatchers", out var watchers) && watchers.GetInt32() > 0)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "ullmctl events did not subscribe within 30 s:\n" + daemon.Output);
            await Task.Delay(100);
        }
    }
}
