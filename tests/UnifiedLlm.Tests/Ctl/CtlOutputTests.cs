using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Support;
using TempDirectory = UnifiedLlm.Tests.Support.TempDirectory;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// The real ullmctl against a real ullmd (issue #21): what comes from outside cannot drive the terminal, errors under
/// --json are JSON on stdout with the documented exit codes, top streams JSON, and logs -f follows the next instance.
/// </summary>
[Collection(nameof(Daemon.DaemonProcessTests))]
public sealed class CtlOutputTests : IDisposable
{
    private const string Injected = "\u001b]0;pwned\u0007\u001b[2J\u009b31mx\u202e";
    private readonly TempDirectory dir = new("ullmctl-output");

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task Audit_and_error_output_escape_control_sequences_and_json_keeps_them_exact()
    {
        var paths = DaemonProcess.WriteConfig(dir, "\n[models.tiny]\nbackend = \"llamacpp\"\nsource = \"/models/tiny.gguf\"\n");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        using (var client = GatewayHost.UnixClient(paths.OpenAiSocket))
        {
            using var response = await client.PostAsJsonAsync(
                "v1/chat/completions", new { model = Injected, messages = new[] { new { role = "user", content = "hi" } } }, TestContext.Current.CancellationToken);
            Assert.Equal(404, (int)response.StatusCode);
        }

        ProcessResult json;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!(json = await daemon.CtlAsync("audit", "--json")).StandardOutput.Contains("modelRequested", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no audit record within 20 s: {json}");
            await Task.Delay(200);
        }

        using (var doc = JsonDocument.Parse(json.StandardOutput))
        {
            Assert.Equal(Injected, doc.RootElement.GetProperty("records")[0].GetProperty("modelRequested").GetString());
        }

        var table = await daemon.CtlAsync("audit");
        Assert.Equal(0, table.ExitCode);
        // The table may shorten the column; what it shows starts with the escaped sequence.
        Assert.Contains("\\x1b]0;pwned\\x07\\x1b[2J", table.StandardOutput, StringComparison.Ordinal);
        AssertNoControlCharacters(table.StandardOutput);

        var shown = await daemon.CtlAsync("model", "show", "\u001b[2J\u001b]0;t\u0007");
        Assert.Equal(5, shown.ExitCode);
        Assert.Contains("no model named '\\x1b[2J\\x1b]0;t\\x07'", shown.StandardError, StringComparison.Ordinal);
        AssertNoControlCharacters(shown.StandardError);
    }

    [Fact]
    public async Task With_json_errors_are_a_json_object_on_stdout_and_exit_codes_follow_the_status()
    {
        var absent = await ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, ["--socket", dir.File("absent.sock"), "--json", "status"]);
        Assert.Equal(3, absent.ExitCode);
        AssertError(absent, "UNAVAILABLE", 3, "ullmd is not running");

        var paths = DaemonProcess.WriteConfig(dir, "\n[models.tiny]\nbackend = \"llamacpp\"\nsource = \"/models/tiny.gguf\"\n");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);

        var missing = await daemon.CtlAsync("--json", "model", "show", "nosuch");
        Assert.Equal(5, missing.ExitCode);
        AssertError(missing, "NOT_FOUND", 5, "name: no model named 'nosuch'");

        var usage = await daemon.CtlAsync("--json", "audit", "--limit", "many");
        Assert.Equal(2, usage.ExitCode);
        AssertError(usage, "INVALID_ARGUMENT", 2, "many");

        // load, unload and switch name a model like model show does: an unknown one is not found (5), not a failure (1).
        foreach (var arguments in new[] { new[] { "load", "nosuch" }, ["unload", "nosuch"], ["switch", "tiny", "nosuch"] })
        {
            var result = await daemon.CtlAsync(arguments);
            Assert.True(result.ExitCode == 5, $"{string.Join(' ', arguments)}: {result}");
            Assert.Contains("'nosuch'", result.StandardError, StringComparison.Ordinal);
        }

        var top = await daemon.CtlAsync("--json", "top", "--interval", "0.2", "--count", "2");
        Assert.True(top.ExitCode == 0, top.ToString());
        var snapshots = top.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, snapshots.Length);
        foreach (var snapshot in snapshots)
        {
            using var doc = JsonDocument.Parse(snapshot);
            Assert.Equal(paths.ConfigFile, doc.RootElement.GetProperty("status").GetProperty("configPath").GetString());
            Assert.Equal(0, doc.RootElement.GetProperty("requestsPerSecond").GetDouble());
            Assert.True(doc.RootElement.TryGetProperty("gpus", out _));
        }
    }

    [Fact]
    public async Task Logs_follow_says_when_the_instance_ends_and_follows_the_next_one()
    {
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        TinyModel.Write(dir.File("tiny.gguf"));
        var paths = DaemonProcess.WriteConfig(dir, $"""
            [backends.llamacpp]
            executable = "{llamaServer}"

            [models.tiny]
            backend = "llamacpp"
            source = "{dir.File("tiny.gguf")}"
            context = 256
            """, serverExtra: "supervisor = \"process\"");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        var first = await daemon.CtlAsync("load", "tiny", "--wait");
        Assert.True(first.ExitCode == 0, first.ToString());
        var firstUnit = await UnitAsync(daemon);

        var (follower, output) = OutputLines.StartUllmctl(paths.AdminSocket, "logs", "tiny", "-f", "-n", "5");
        using var followed = follower;
        try
        {
            await output.WaitForAsync($"out {firstUnit}");
            var unload = await daemon.CtlAsync("unload", "tiny");
            Assert.True(unload.ExitCode == 0, unload.ToString());
            await output.WaitForAsync($"err ullmctl: {firstUnit} ended; waiting for the next instance of tiny (Ctrl-C stops)");

            var second = await daemon.CtlAsync("load", "tiny", "--wait");
            Assert.True(second.ExitCode == 0, second.ToString());
            var secondUnit = await UnitAsync(daemon);
            Assert.NotEqual(firstUnit, secondUnit);
            await output.WaitForAsync($"err ullmctl: following {secondUnit}");
            await output.WaitForAsync($"out {secondUnit}");
            Assert.False(follower.HasExited, output.ToString());
        }
        finally
        {
            follower.Kill(entireProcessTree: true);
            await daemon.CtlAsync("unload", "tiny", "--force");
        }
    }

    private static async Task<string> UnitAsync(DaemonProcess daemon)
    {
        var shown = await daemon.CtlAsync("model", "show", "tiny", "--json");
        using var doc = JsonDocument.Parse(shown.StandardOutput);
        return doc.RootElement.GetProperty("instance").GetProperty("unit").GetString()!;
    }

    private static void AssertError(ProcessResult result, string code, int exit, string message)
    {
        using var doc = JsonDocument.Parse(result.StandardOutput);
        var error = doc.RootElement.GetProperty("error");
        Assert.Equal((code, exit), (error.GetProperty("code").GetString(), error.GetProperty("exit").GetInt32()));
        Assert.Contains(message, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("ullmctl: ", result.StandardError, StringComparison.Ordinal);
    }

    private static void AssertNoControlCharacters(string text)
    {
        var bad = text.Where(c => (c < 0x20 && c != '\n') || c is >= '\u007f' and <= '\u009f' || c is >= '\u202a' and <= '\u202e').ToList();
        Assert.True(bad.Count == 0, $"control characters printed raw: {string.Join(' ', bad.Select(c => $"U+{(int)c:X4}"))}");
    }
}
