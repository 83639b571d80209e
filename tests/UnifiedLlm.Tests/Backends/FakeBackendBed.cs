using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Gpu;
using UnifiedLlm.Tests.Support;
using UnifiedLlm.Tests.Systemd;
using OllamaLayout = UnifiedLlm.Tests.Models.OllamaLayout;
using SyntheticModel = UnifiedLlm.Tests.Models.SyntheticModel;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// What the end-to-end backend tests share: a directory for one real ullmd, tests/tools/FakeBackends as its backend
/// programs, the fakes' record (FAKE_RECORD_FILE) read back as JSON lines, and the supervisor the ullmd uses — plain
/// processes, or the real systemd of a <see cref="SystemdContainerFixture"/>. Under systemd everything a backend unit
/// reads lives in the container's shared directory (a unit has a private /tmp and hides /root), and the record is in the
/// container's /dev/shm: a unit sees the file system read-only but for /dev, and the host reads it through /proc/PID/root.
/// Backends run in the container's PID namespace there, so their recorded pids are translated for signals.
/// </summary>
internal sealed class FakeBackendBed : IDisposable
{
    private const UnixFileMode Executable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly SystemdContainerFixture? container;
    private readonly Dictionary<int, int> hostPids = [];

    private FakeBackendBed(TempDirectory dir, SystemdContainerFixture? container, string record, string recordForBackends)
    {
        Dir = dir;
        this.container = container;
        Record = record;
        RecordForBackends = recordForBackends;
    }

    public TempDirectory Dir { get; }

    /// <summary>The fakes' record, where the test reads it.</summary>
    public string Record { get; }

    /// <summary>The record's path as the backends see it (their FAKE_RECORD_FILE).</summary>
    public string RecordForBackends { get; }

    /// <summary>The [server] lines choosing this bed's supervisor.</summary>
    public string Supervisor => container is null
        ? "supervisor = \"process\""
        : $"supervisor = \"systemd\"\nsystemd_address = \"{container.BusAddress}\"";

    /// <summary>A small GGUF of llama shape: 4 layers, n_embd 256, 4 heads / 2 KV heads, 8192-token training context.</summary>
    public static SyntheticModel Tiny => new() { Name = "tiny", Layers = 4, Embedding = 256, Heads = 4, KvHeads = 2, FeedForward = 512, Vocab = 1000, Context = 8192 };

    public static FakeBackendBed UnderProcesses(string prefix)
    {
        var dir = new TempDirectory(prefix);
        return new FakeBackendBed(dir, null, dir.File("record.jsonl"), dir.File("record.jsonl"));
    }

    public static FakeBackendBed UnderSystemd(SystemdContainerFixture container, string prefix)
    {
        var dir = new TempDirectory(prefix, container.SharedDirectory);
        var name = $"ullm-record-{Guid.NewGuid():N}.jsonl";
        var record = $"/proc/{container.Pid}/root/dev/shm/{name}";
        // Created by root, writable by all: each unit runs as a dynamic user of its own, and appends to it.
        File.WriteAllText(record, "");
        File.SetUnixFileMode(record, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        return new FakeBackendBed(dir, container, record, "/dev/shm/" + name);
    }

    public void Dispose()
    {
        if (container is not null)
        {
            File.Delete(Record);
        }

        Dir.Dispose();
    }

    /// <summary>An executable <paramref name="name"/> in the directory that runs the fakes with the arguments it is given.</summary>
    public string FakeProgram(string name)
    {
        var fake = RepoPaths.FakeBackends;
        Assert.True(File.Exists(fake), $"{fake} is missing: the test project's reference builds it");
        if (container is not null)
        {
            // The build output may be under /tmp (a fresh clone there), which a unit's private /tmp hides: units run a copy.
            fake = CopyOfFakes(fake);
        }

        var path = Dir.Write(name, $"#!/bin/sh\nexec dotnet '{fake}' \"$@\"\n");
        File.SetUnixFileMode(path, Executable);
        return path;
    }

    /// <summary>The fakes' build output copied into this bed's directory (once); the path of the copied program.</summary>
    private string CopyOfFakes(string fake)
    {
        var built = Path.GetDirectoryName(fake)!;
        var copy = Path.Combine(Dir.Path, "fake-backends");
        if (!Directory.Exists(copy))
        {
            foreach (var file in Directory.EnumerateFiles(built, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(copy, Path.GetRelativePath(built, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }
        }

        return Path.Combine(copy, Path.GetFileName(fake));
    }

    /// <summary>
    /// A real ullmd with the fake Ollama and vLLM as its backends, the GPUs of <paramref name="gpus"/>, qwen:0.5b (and
    /// each of <paramref name="ollamaTags"/>) pulled into its OLLAMA_MODELS (a small GGUF, laid out as Ollama lays it
    /// out), and <paramref name="models"/>; ready once it sent READY=1.
    /// </summary>
    public async Task<DaemonProcess> StartOllamaAndVllmAsync(FakeGpuHost gpus, string models, string gpuExtra = "", string ollamaEnv = "", string vllmEnv = "", params string[] ollamaTags)
    {
        var paths = DaemonProcess.WriteConfig(Dir, $$"""
            [gpu]
            nvml_library = "{{gpus.LibraryPath}}"
            {{gpuExtra}}

            [backends.ollama]
            enabled = true
            executable = "{{FakeProgram("ollama")}}"
            env = { FAKE_BACKEND = "ollama", FAKE_RECORD_FILE = "{{RecordForBackends}}", FAKE_LOAD_DELAY_MS = "300"{{ollamaEnv}} }

            [backends.vllm]
            enabled = true
            executable = "{{FakeProgram("vllm")}}"
            env = { FAKE_BACKEND = "vllm", FAKE_RECORD_FILE = "{{RecordForBackends}}", FAKE_LOAD_DELAY_MS = "500"{{vllmEnv}} }

            {{models}}
            """, serverExtra: Supervisor);
        var gguf = Dir.File("qwen.gguf");
        Tiny.Write(gguf);
        foreach (var tag in ollamaTags.Prepend("qwen:0.5b"))
        {
            var (name, version) = (tag.Split(':')[0], tag.Split(':')[1]);
            OllamaLayout.Add(Path.Combine(paths.DataDir, "ollama"), gguf, name, version);
        }

        return await StartAsync(paths);
    }

    /// <summary>A ullmd on <paramref name="paths"/> (a first one, or the next after a kill), ready, without this process's secrets reaching a backend.</summary>
    public async Task<DaemonProcess> StartAsync(DaemonPaths paths)
    {
        var daemon = await DaemonProcess.StartAsync(Dir, paths, new Dictionary<string, string> { ["ULLM_TEST_SECRET"] = "must-not-reach-a-backend" });
        await daemon.Notify.WaitForAsync("READY=1", TimeSpan.FromSeconds(60));
        return daemon;
    }

    /// <summary>
    /// Kills <paramref name="first"/> with SIGKILL, checks that the backend of <paramref name="backend"/> outlives it,
    /// starts the next ullmd on the same paths and checks that it serves <paramref name="model"/> from that backend:
    /// adopted, with no new start. <paramref name="first"/> is disposed on the way (its notify socket is the next one's).
    /// </summary>
    public async Task<DaemonProcess> KillAndAdoptAsync(DaemonProcess first, JsonNode backend, string model)
    {
        Signals.Send(first.Pid, Signals.Kill);
        await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
        await first.DisposeAsync();
        Assert.True(Alive(backend), $"{model}'s backend (pid {Pid(backend)}) must outlive a killed ullmd");
        var starts = Starts().Count;
        var second = await StartAsync(first.Paths);
        using var http = GatewayHost.UnixClient(second.Paths.OpenAiSocket);
        var (status, body, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat(model)));
        Assert.True(status == 200, $"{status} {body}\n{second.Output}");
        Assert.Equal(starts, Starts().Count);
        Assert.Contains($"{model}: adopted after ullmd restart", second.Output, StringComparison.Ordinal);
        return second;
    }

    public List<JsonNode> Lines() =>
        File.Exists(Record) ? [.. File.ReadAllLines(Record).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!)] : [];

    /// <summary>Each start of a fake: its mode, argv, environment and pid.</summary>
    public List<JsonNode> Starts() => [.. Lines().Where(l => l["event"]!.GetValue<string>() == "start")];

    /// <summary>Each API request a fake received: its path and body.</summary>
    public List<JsonNode> Requests() => [.. Lines().Where(l => l["event"]!.GetValue<string>() == "request")];

    /// <summary>
    /// The host's pid of a started fake (under systemd, translated from the container's PID namespace while the process
    /// lives, and remembered after).
    /// </summary>
    public int Pid(JsonNode start)
    {
        var pid = start["pid"]!.GetValue<int>();
        if (container is null)
        {
            return pid;
        }

        lock (hostPids)
        {
            if (!hostPids.TryGetValue(pid, out var hostPid))
            {
                hostPid = container.HostPid(pid);
                hostPids[pid] = hostPid;
            }

            return hostPid;
        }
    }

    public bool Alive(JsonNode start) => ProcessAlive(Pid(start));

    /// <summary>The fake ends as a crash would end it: SIGKILL.</summary>
    public void Kill(JsonNode start) => Signals.Send(Pid(start), Signals.Kill);

    /// <summary>The failure events ullmd has logged for <paramref name="model"/>: a crash is one once its exit is seen.</summary>
    public static int Failures(DaemonProcess daemon, string model) =>
        daemon.Output.Split('\n').Count(l => l.Contains($"failure: {model}:", StringComparison.Ordinal));

    public static List<string> Argv(JsonNode start) => [.. start["argv"]!.AsArray().Select(a => a!.GetValue<string>())];

    /// <summary>The value after <paramref name="flag"/> in <paramref name="argv"/>.</summary>
    public static string Flag(List<string> argv, string flag) => argv[argv.IndexOf(flag) + 1];

    public static bool ProcessAlive(int pid) =>
        File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1].StartsWith('Z');

    public static Task WaitUntilAsync(Func<bool> condition, CancellationToken ct) => WaitUntilAsync(() => Task.FromResult(condition()), ct);

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not come true within 60 s");
            await Task.Delay(50, ct);
        }
    }
}
