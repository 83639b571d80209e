using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Tests.Support;
using LlamaServerBinary = UnifiedLlm.Tests.Models.LlamaServerBinary;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>A real llama-server serving the tiny model on a loopback port, killed with its temp dir on dispose.</summary>
internal sealed class LlamaServerProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly TempDirectory dir;

    private LlamaServerProcess(Process process, TempDirectory dir, Uri baseAddress)
    {
        this.process = process;
        this.dir = dir;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>
    /// Starts it with <paramref name="extraArgs"/> after the usual ones, or returns null when no llama-server binary is
    /// available (the caller skips with <see cref="LlamaServerBinary.HowToGet"/>).
    /// </summary>
    public static async Task<LlamaServerProcess?> StartAsync(CancellationToken cancellationToken, params string[] extraArgs)
    {
        var binary = LlamaServerBinary.Find();
        if (binary is null)
        {
            return null;
        }

        var dir = new TempDirectory("ullm-llama");
        var model = dir.File("tiny.gguf");
        TinyModel.Write(model);
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process
        {
            StartInfo = new ProcessStartInfo(binary)
            {
                ArgumentList = { "-m", model, "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "-c", "256", "-np", "2" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            },
            EnableRaisingEvents = true,
        };
        foreach (var argument in extraArgs)
        {
            process.StartInfo.ArgumentList.Add(argument);
        }

        void OnLine(object? sender, DataReceivedEventArgs e)
        {
            if (e.Data?.Contains("listening on http://", StringComparison.Ordinal) == true)
            {
                listening.TrySetResult();
            }
        }

        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"llama-server exited with {process.ExitCode}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new LlamaServerProcess(process, dir, new Uri($"http://127.0.0.1:{port}/"));
        try
        {
            await listening.Task.WaitAsync(TimeSpan.FromSeconds(120), cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        await process.WaitForExitAsync(CancellationToken.None);
        process.Dispose();
        dir.Dispose();
    }
}
