using System.Text.Json;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// <c>ullmctl doctor</c> against a real ullmd on temp sockets: a config with deliberate problems gives each finding with
/// its severity and fix (and the finding goes once the file is fixed); a clean one gives no warnings; certificates made
/// by openssl; a config that does not load; sockets, data_dir and database with the wrong mode or owner, data_dir on a
/// small tmpfs; no daemon at all, where ullmctl runs the same audit in <c>ullmd --doctor</c> (or says it gave no report).
/// </summary>
public sealed class DoctorCommandTests
{
    [Fact]
    public async Task A_config_with_problems_gives_each_finding_with_its_severity_and_fix()
    {
        using var dir = new TempDirectory("ullm-doctor");
        // A model outside /tmp that only root may read: the sandbox's dynamic user could not open it.
        var locked = Directory.CreateDirectory($"/var/lib/ullm-doctor-test-{Guid.NewGuid():N}").FullName;
        try
        {
            var keyFile = dir.Write("provider.key", "sk-from-file");
            File.SetUnixFileMode(keyFile, (UnixFileMode)0b110_100_100);
            TinyModel.Write(dir.File("tmp-model.gguf"));
            var lockedModel = Path.Combine(locked, "locked.gguf");
            TinyModel.Write(lockedModel);
            File.SetUnixFileMode(lockedModel, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var paths = DaemonProcess.WriteConfig(dir, $"""
                [security]
                anonymous_providers = true

                [providers.filed]
                kind = "openai"
                base_url = "http://127.0.0.1:9/v1"
                api_key_file = "{keyFile}"
                models = ["gpt-a"]

                [providers.inlined]
                kind = "openai"
                base_url = "http://127.0.0.1:9/v1"
                api_key = "sk-written-in-the-config"
                allow_inline_api_key = true
                models = ["gpt-b"]

                [models.in-tmp]
                backend = "llamacpp"
                source = "{dir.File("tmp-model.gguf")}"

                [models.locked]
                backend = "llamacpp"
                source = "{lockedModel}"
                """);
            File.SetUnixFileMode(paths.ConfigFile, (UnixFileMode)0b110_100_100);
            await using var daemon = await DaemonProcess.StartAsync(dir, paths);

            var text = await DoctorAsync(paths, "doctor");
            Assert.Equal(1, text.ExitCode);
            Assert.Contains($"error    secrets.key_file providers.filed: api_key_file {keyFile} has mode 0644: every local user can read the key\n         fix: chmod 0600 {keyFile}\n", text.StandardOutput);

            var json = await DoctorAsync(paths, "--json", "doctor");
            Assert.Equal(1, json.ExitCode);
            var findings = Findings(json.StandardOutput);
            Assert.Equal(paths.ConfigFile, Config(json.StandardOutput));

            AssertFinding(findings, "error", "secrets.key_file", "providers.filed", "mode 0644", $"chmod 0600 {keyFile}");
            AssertFinding(findings, "warning", "secrets.inline", "providers.inlined", "written in the config file", "api_key_file");
            AssertFinding(findings, "error", "secrets.config_file", paths.ConfigFile, "can read the inline API key(s) of inlined", $"chmod o-r {paths.ConfigFile}");
            AssertFinding(findings, "warning", "security.anonymous", paths.OpenAiSocket, "can use the cloud providers filed, inlined", "anonymous_providers = false (the default)");
            AssertFinding(findings, "info", "sandbox.paths", "models.in-tmp", $"the model {dir.File("tmp-model.gguf")} is under /tmp", "before running ullmd under systemd");
            AssertFinding(findings, "info", "sandbox.paths", "models.locked", "its mode 0600 does not let others read it (chmod o+r)", "before running ullmd under systemd");
            AssertFinding(findings, "ok", "listener.openai-unix", paths.OpenAiSocket, "accepts connections", "");
            AssertFinding(findings, "ok", "listener.admin-unix", paths.AdminSocket, "accepts connections", "");
            AssertFinding(findings, "ok", "data_dir.mode", paths.DataDir, "owned by root", "");

            // Fixed on disk, found fixed: the findings come from the files, not from the config's shape.
            File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.SetUnixFileMode(lockedModel, (UnixFileMode)0b110_100_100);
            var again = Findings((await DoctorAsync(paths, "--json", "doctor")).StandardOutput);
            AssertFinding(again, "ok", "secrets.key_file", "providers.filed", "mode 0600", "");
            Assert.DoesNotContain(again, f => f.Subject == "models.locked");
            Assert.Contains(again, f => f.Subject == "models.in-tmp");
        }
        finally
        {
            Directory.Delete(locked, recursive: true);
        }
    }

    [Fact]
    public async Task A_clean_config_has_no_warnings_and_certificates_are_judged_by_their_dates_and_key()
    {
        using var dir = new TempDirectory("ullm-doctor");
        var paths = DaemonProcess.WriteConfig(dir, "[security]\nallow_anonymous_unix = false\n", serverExtra: "admin_group = \"root\"");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        // What the packaged unit's UMask=0027 gives the database; the test process's umask 022 does not.
        File.SetUnixFileMode(Path.Combine(paths.DataDir, "ullm.db"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var clean = await DoctorAsync(paths, "--json", "doctor");
        var findings = Findings(clean.StandardOutput);
        Assert.DoesNotContain(findings, f => f.Severity is "warning" or "error");
        Assert.Equal(0, clean.ExitCode);
        AssertFinding(findings, "ok", "socket.admin", paths.AdminSocket, "mode 0660, group root", "");
        AssertFinding(findings, "ok", "security.anonymous", paths.OpenAiSocket, "need an API key", "");

        var valid = await OpensslAsync(dir, "valid", days: 365);
        var expiring = await OpensslAsync(dir, "expiring", days: 10);
        var expired = await ExpiredAsync(dir);
        var result = await DoctorAsync(paths, "--json", "doctor", "--cert", valid.Cert, "--key", valid.Key, "--cert", expiring.Cert, "--key", valid.Key, "--cert", expired);
        var certs = Findings(result.StandardOutput);
        Assert.Equal(1, result.ExitCode);
        AssertFinding(certs, "ok", "tls.certificate", valid.Cert, "CN=valid, valid", "");
        AssertFinding(certs, "ok", "tls.key", valid.Key, $"matches {valid.Cert}", "");
        AssertFinding(certs, "warning", "tls.certificate", expiring.Cert, "expires in 10 days", "renew");
        AssertFinding(certs, "error", "tls.key", valid.Key, $"does not match {expiring.Cert}", "the key the certificate was issued for");
        AssertFinding(certs, "error", "tls.certificate", expired, "expired: CN=old, valid 2020-01-01 00:00:00Z to 2020-02-01 00:00:00Z", "renew");

        // A warning and no error exits 7.
        Assert.Equal(7, (await DoctorAsync(paths, "doctor", "--cert", expiring.Cert)).ExitCode);
    }

    [Fact]
    public async Task On_a_network_listener_keys_without_limits_and_a_world_accessible_admin_socket_are_found()
    {
        using var dir = new TempDirectory("ullm-doctor");
        var paths = DaemonProcess.WriteConfig(dir, serverExtra: "admin_group = \"root\"\nallow_plaintext = true");
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        File.WriteAllText(paths.ConfigFile, File.ReadAllText(paths.ConfigFile).Replace("tcp_listen = \"\"", $"tcp_listen = \"0.0.0.0:{port}\"", StringComparison.Ordinal));
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        Assert.Equal(0, (await DoctorAsync(paths, "keys", "create", "--name", "open")).ExitCode);
        Assert.Equal(0, (await DoctorAsync(paths, "keys", "create", "--name", "limited", "--rpm", "60")).ExitCode);
        Assert.Equal(0, (await DoctorAsync(paths, "keys", "create", "--name", "narrow", "--models", "tiny")).ExitCode);

        var findings = Findings((await DoctorAsync(paths, "--json", "doctor")).StandardOutput);
        var open = Assert.Single(findings, f => f.Check == "keys.limits" && f.Severity == "warning");
        Assert.StartsWith("key open (ullm-", open.Subject);
        Assert.Contains($"while 0.0.0.0:{port} is reachable from the network: it has only the defaults (600 requests", open.Message);
        Assert.Contains("ullmctl keys revoke open", open.Fix);
        AssertFinding(findings, "ok", "listener.openai-tcp", $"0.0.0.0:{port}", "accepts connections", "");
        AssertFinding(findings, "warning", "listener.tls", $"0.0.0.0:{port}", "without TLS (allow_plaintext = true)", "set [server] tls_certificate and tls_key");

        File.SetUnixFileMode(paths.AdminSocket, (UnixFileMode)0b110_110_110);
        Assert.Equal(0, (await DoctorAsync(paths, "keys", "revoke", "open")).ExitCode);
        var after = await DoctorAsync(paths, "--json", "doctor");
        Assert.Equal(1, after.ExitCode);
        var again = Findings(after.StandardOutput);
        AssertFinding(again, "error", "socket.admin", paths.AdminSocket, "mode 0666 lets every local user administer ullmd", $"chmod 0660 {paths.AdminSocket}");
        AssertFinding(again, "ok", "keys.limits", $"0.0.0.0:{port}", "each of the 2 active key(s) has a limit or a model list", "");
    }

    [Fact]
    public async Task A_config_file_that_does_not_load_is_an_error_with_its_location()
    {
        using var dir = new TempDirectory("ullm-doctor");
        var paths = DaemonProcess.WriteConfig(dir);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        var broken = dir.Write("broken.toml", "[server]\ndata_dri = \"/var/lib/x\"\n");

        var result = await DoctorAsync(paths, "--json", "doctor", "--config", broken);
        Assert.Equal(1, result.ExitCode);
        using var doc = JsonDocument.Parse(result.StandardOutput);
        var error = doc.RootElement.GetProperty("configErrors")[0];
        Assert.Equal(broken, error.GetProperty("file").GetString());
        Assert.Equal(2, error.GetProperty("line").GetInt32());
        Assert.Contains("data_dir", error.GetProperty("message").GetString());
        AssertFinding(Findings(result.StandardOutput), "error", "config.load", broken, "1 error(s)", "ullmd --config FILE --check");
    }

    [Fact]
    public async Task Without_ullmd_the_audit_runs_in_ullmd_doctor_and_the_unreachable_daemon_comes_first()
    {
        using var dir = new TempDirectory("ullm-doctor");
        var keyFile = dir.Write("provider.key", "sk-from-file");
        File.SetUnixFileMode(keyFile, (UnixFileMode)0b110_100_100);
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [providers.filed]
            kind = "openai"
            base_url = "http://127.0.0.1:9/v1"
            api_key_file = "{keyFile}"
            models = ["gpt-a"]
            """);
        Directory.CreateDirectory(paths.DataDir);

        // No --config: ullmd's own default ($ULLM_CONFIG here), as when an admin types ullmctl doctor on a host.
        var environment = new Dictionary<string, string> { ["ULLM_CONFIG"] = paths.ConfigFile };
        var result = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["--socket", paths.AdminSocket, "--json", "doctor"], environment);
        Assert.Equal(3, result.ExitCode);
        var findings = Findings(result.StandardOutput);
        Assert.Equal(paths.ConfigFile, Config(result.StandardOutput));
        var ullmd = Path.Combine(Path.GetDirectoryName(RepoPaths.Ullmctl)!, "ullmd");
        Assert.Equal("daemon.reachable", findings[0].Check);
        AssertFinding(findings, "error", "daemon.reachable", paths.AdminSocket, "ullmd is not running", "start ullmd");
        AssertFinding(findings, "error", "daemon.reachable", paths.AdminSocket, $"the other findings are ullmd's own checks, run without the daemon: {ullmd} --doctor --json", "start ullmd");
        AssertFinding(findings, "error", "secrets.key_file", "providers.filed", "mode 0644: every local user can read the key", $"chmod 0600 {keyFile}");
        AssertFinding(findings, "info", "listener.openai-unix", paths.OpenAiSocket, "ullmd not running: not bound", "start ullmd");
        AssertFinding(findings, "info", "listener.admin-unix", paths.AdminSocket, "ullmd not running: not bound", "start ullmd");
        AssertFinding(findings, "info", "supervisor", "auto", "so ullmd runs the process supervisor", "");
        Assert.Contains(findings, f => f.Check == "gpu.nvml");

        // The text says the same, worst first.
        var text = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["--socket", paths.AdminSocket, "doctor", "--config", paths.ConfigFile]);
        Assert.Equal(3, text.ExitCode);
        Assert.StartsWith($"config {paths.ConfigFile}\nerror    daemon.reachable {paths.AdminSocket}: ", text.StandardOutput);
        Assert.Contains($"run without the daemon: {ullmd} --doctor --json --config {paths.ConfigFile}\n", text.StandardOutput);

        // ullmd --doctor itself exits by its worst finding, as ullmctl doctor does with a daemon.
        var direct = await ProcessRunner.UllmdAsync(["--doctor", "--json", "--config", paths.ConfigFile]);
        Assert.Equal(1, direct.ExitCode);
        Assert.DoesNotContain(Findings(direct.StandardOutput), f => f.Check == "daemon.reachable");
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var fixedKey = await ProcessRunner.UllmdAsync(["--doctor", "--config", paths.ConfigFile]);
        Assert.Contains($"ok       secrets.key_file providers.filed: api_key_file {keyFile}, mode 0600\n", fixedKey.StandardOutput);
    }

    [Fact]
    public async Task Without_ullmd_a_broken_config_is_the_finding_with_its_location()
    {
        using var dir = new TempDirectory("ullm-doctor");
        var broken = dir.Write("broken.toml", "[server]\ndata_dri = \"/var/lib/x\"\n");
        var socket = dir.File("admin.sock");

        var result = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["--socket", socket, "--json", "doctor", "--config", broken]);
        Assert.Equal(3, result.ExitCode);
        using var doc = JsonDocument.Parse(result.StandardOutput);
        var error = doc.RootElement.GetProperty("configErrors")[0];
        Assert.Equal(broken, error.GetProperty("file").GetString());
        Assert.Equal(2, error.GetProperty("line").GetInt32());
        Assert.Contains("data_dir", error.GetProperty("message").GetString());
        var findings = Findings(result.StandardOutput);
        AssertFinding(findings, "error", "daemon.reachable", socket, "ullmd is not running", "start ullmd");
        AssertFinding(findings, "error", "config.load", broken, "1 error(s)", "ullmd --config FILE --check");

        var direct = await ProcessRunner.UllmdAsync(["--doctor", "--config", broken]);
        Assert.Equal(1, direct.ExitCode);
        Assert.Contains($"  {broken}:2:", direct.StandardOutput);
    }

    [Fact]
    public async Task Without_ullmd_a_port_another_program_holds_is_a_warning()
    {
        using var dir = new TempDirectory("ullm-doctor");
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        var port = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;
        var paths = DaemonProcess.WriteConfig(dir, tcpListen: $"127.0.0.1:{port}");

        var result = await ProcessRunner.UllmdAsync(["--doctor", "--json", "--config", paths.ConfigFile]);
        var findings = Findings(result.StandardOutput);
        AssertFinding(findings, "warning", "listener.openai-tcp", $"127.0.0.1:{port}", "ullmd not running, but something accepts connections here", "ss -ltnp");
        AssertFinding(findings, "error", "data_dir", paths.DataDir, "does not exist", "start ullmd once");
        Assert.Equal(1, result.ExitCode);
    }

    [Fact]
    public async Task The_openai_socket_mode_a_data_dir_owned_by_another_user_and_a_database_others_can_read_are_found()
    {
        using var dir = new TempDirectory("ullm-doctor");
        var paths = DaemonProcess.WriteConfig(dir, "[security]\nallow_anonymous_unix = false\n", serverExtra: "admin_group = \"root\"");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        var database = Path.Combine(paths.DataDir, "ullm.db");
        File.SetUnixFileMode(database, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var before = Findings((await DoctorAsync(paths, "--json", "doctor")).StandardOutput);
        AssertFinding(before, "ok", "socket.openai", paths.OpenAiSocket, "mode 0666 as configured", "");
        AssertFinding(before, "ok", "data_dir.mode", paths.DataDir, "owned by root", "");
        Assert.DoesNotContain(before, f => f.Check == "data_dir.database");

        File.SetUnixFileMode(paths.OpenAiSocket, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        // nobody (uid 65534): any owner but root is the finding.
        var chown = await ProcessRunner.RunAsync("chown", ["65534", paths.DataDir]);
        Assert.True(chown.ExitCode == 0, chown.ToString());
        File.SetUnixFileMode(database, (UnixFileMode)0b110_100_100);
        var result = await DoctorAsync(paths, "--json", "doctor");

        Assert.Equal(1, result.ExitCode);
        var findings = Findings(result.StandardOutput);
        AssertFinding(findings, "warning", "socket.openai", paths.OpenAiSocket, "mode 0600, but [server] openai_socket_mode is 0666", "restart ullmd");
        AssertFinding(findings, "error", "data_dir.owner", paths.DataDir, "owned by uid 65534, not root: that user can change the database", $"chown root:root {paths.DataDir}");
        AssertFinding(findings, "warning", "data_dir.database", database, "mode 0644: every local user can read the audit log and key names", $"chmod o-r {database}");
    }

    [Fact]
    public async Task Without_ullmd_a_database_that_cannot_be_opened_is_an_error()
    {
        using var dir = new TempDirectory("ullm-doctor");
        var paths = DaemonProcess.WriteConfig(dir);
        var database = dir.Write("data/ullm.db", "not a SQLite database, but long enough to be read as one's header ............\n");

        var result = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["--socket", paths.AdminSocket, "--json", "doctor", "--config", paths.ConfigFile]);

        Assert.Equal(3, result.ExitCode);
        var findings = Findings(result.StandardOutput);
        AssertFinding(findings, "error", "daemon.reachable", paths.AdminSocket, "ullmd is not running", "start ullmd");
        AssertFinding(findings, "error", "data_dir.database", database, "ullmd cannot start: ", "ullmd opens the database before anything else");
        var direct = await ProcessRunner.UllmdAsync(["--doctor", "--config", paths.ConfigFile]);
        Assert.Equal(1, direct.ExitCode);
    }

    [Fact]
    public async Task A_data_dir_on_a_nearly_full_file_system_is_a_warning()
    {
        using var dir = new TempDirectory("ullm-doctor");
        var paths = DaemonProcess.WriteConfig(dir, "[security]\nallow_anonymous_unix = false\n", serverExtra: "admin_group = \"root\"");
        Directory.CreateDirectory(paths.DataDir);
        // A 64 MiB tmpfs: far under the 1 GiB the check asks for, and room enough for the database.
        var mount = await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", paths.DataDir]);
        if (mount.ExitCode != 0)
        {
            Assert.Skip($"a small file system for data_dir needs mount -t tmpfs, which failed here: {mount}");
        }

        try
        {
            await using var daemon = await DaemonProcess.StartAsync(dir, paths);
            File.SetUnixFileMode(Path.Combine(paths.DataDir, "ullm.db"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

            var result = await DoctorAsync(paths, "--json", "doctor");

            var findings = Findings(result.StandardOutput);
            AssertFinding(findings, "warning", "data_dir.space", paths.DataDir, "GiB free, under 1.0 GiB: the database, audit log and backend output may fill it", "move data_dir");
            Assert.DoesNotContain(findings, f => f.Severity == "error");
            Assert.Equal(7, result.ExitCode);
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", ["--lazy", paths.DataDir]);
        }
    }

    [Fact]
    public async Task Without_ullmd_an_ullmd_doctor_that_gives_no_report_is_an_error()
    {
        using var dir = new TempDirectory("ullm-doctor");
        var paths = DaemonProcess.WriteConfig(dir);
        // An ullmd that fails before it reports anything, as a broken install would.
        var ullmctl = BesideFakeUllmd(dir, "#!/bin/sh\necho 'ullmd: something went wrong' >&2\nexit 2\n");

        var result = await ProcessRunner.DotnetAsync(ullmctl, ["--socket", paths.AdminSocket, "--json", "doctor", "--config", paths.ConfigFile]);

        Assert.Equal(3, result.ExitCode);
        var findings = Findings(result.StandardOutput);
        var ullmd = Path.Combine(Path.GetDirectoryName(ullmctl)!, "ullmd");
        Assert.Equal(["daemon.reachable", "doctor.offline"], findings.Select(f => f.Check));
        AssertFinding(findings, "error", "daemon.reachable", paths.AdminSocket, $"run without the daemon: {ullmd} --doctor --json --config {paths.ConfigFile}", "start ullmd");
        AssertFinding(findings, "error", "doctor.offline", ullmd, $"{ullmd} --doctor --json --config {paths.ConfigFile} gave no report: it exited 2: ullmd: something went wrong",
            "run it yourself to see its output");
    }

    private sealed record FindingRow(string Severity, string Check, string Subject, string Message, string Fix);

    private static Task<ProcessResult> DoctorAsync(DaemonPaths paths, params string[] arguments) =>
        ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, arguments.Prepend(paths.AdminSocket).Prepend("--socket"));

    /// <summary>
    /// ullmctl.dll copied into <paramref name="dir"/> (the rest of the test's output directory linked beside it) with
    /// <paramref name="script"/> as the ullmd it finds beside itself; the path of that ullmctl.dll.
    /// </summary>
    private static string BesideFakeUllmd(TempDirectory dir, string script)
    {
        var ctl = Directory.CreateDirectory(dir.File("ctl")).FullName;
        foreach (var entry in new DirectoryInfo(AppContext.BaseDirectory).EnumerateFileSystemInfos())
        {
            var target = Path.Combine(ctl, entry.Name);
            if (entry.Name == "ullmd")
            {
                continue;
            }

            if (entry.Name == "ullmctl.dll")
            {
                // Copied, not linked: the host resolves links, and ullmctl looks for ullmd beside the file it resolved.
                File.Copy(entry.FullName, target);
            }
            else
            {
                File.CreateSymbolicLink(target, entry.FullName);
            }
        }

        var ullmd = Path.Combine(ctl, "ullmd");
        File.WriteAllText(ullmd, script);
        File.SetUnixFileMode(ullmd, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return Path.Combine(ctl, "ullmctl.dll");
    }

    private static string? Config(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("configPath").GetString();
    }

    private static List<FindingRow> Findings(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return [.. doc.RootElement.GetProperty("findings").EnumerateArray().Select(f => new FindingRow(
            f.GetProperty("severity").GetString()!, f.GetProperty("check").GetString()!, f.GetProperty("subject").GetString()!,
            f.GetProperty("message").GetString()!, f.GetProperty("fix").GetString()!))];
    }

    private static void AssertFinding(List<FindingRow> findings, string severity, string check, string subject, string message, string fix)
    {
        var found = findings.Where(f => f.Check == check && f.Subject == subject).ToList();
        var all = string.Join("\n", findings);
        Assert.True(found.Count > 0, $"no {check} finding for {subject} in:\n{all}");
        Assert.True(
            found.Any(f => f.Severity == severity && f.Message.Contains(message, StringComparison.Ordinal) && f.Fix.Contains(fix, StringComparison.Ordinal) && (fix.Length > 0 || f.Fix.Length == 0)),
            $"expected {severity} {check} {subject} '{message}' fix '{fix}' in:\n{all}");
    }

    private static async Task<(string Cert, string Key)> OpensslAsync(TempDirectory dir, string name, int days)
    {
        var (cert, key) = (dir.File($"{name}.crt"), dir.File($"{name}.key"));
        var result = await ProcessRunner.RunAsync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", $"{days}", "-subj", $"/CN={name}"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return (cert, key);
    }

    /// <summary>A certificate valid only in January 2020, signed by its own key with openssl ca (openssl req cannot date one in the past).</summary>
    private static async Task<string> ExpiredAsync(TempDirectory dir)
    {
        dir.Write("ca/index.txt", "");
        dir.Write("ca/serial", "01\n");
        var config = dir.Write("ca/ca.cnf", $"[ca]\ndefault_ca = d\n[d]\ndatabase = {dir.File("ca/index.txt")}\nnew_certs_dir = {dir.File("ca")}\nserial = {dir.File("ca/serial")}\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n");
        var (key, request, cert) = (dir.File("ca/old.key"), dir.File("ca/old.csr"), dir.File("old.crt"));
        var csr = await ProcessRunner.RunAsync("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=old"]);
        Assert.True(csr.ExitCode == 0, csr.ToString());
        var signed = await ProcessRunner.RunAsync("openssl", ["ca", "-batch", "-notext", "-config", config, "-selfsign", "-keyfile", key, "-in", request, "-out", cert,
            "-startdate", "20200101000000Z", "-enddate", "20200201000000Z"]);
        Assert.True(signed.ExitCode == 0, signed.ToString());
        return cert;
    }
}
