using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Models;

/// <summary>
/// The tiny model in a real llama-server: it loads, answers /health and a chat completion, and llama.cpp's own
/// accounting of the model and KV buffers matches our estimate.
/// </summary>
public sealed class TinyModelLlamaServerTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    [Theory(Timeout = 300_000)]
    [InlineData("F32")]
    [InlineData("F16")]
    public async Task Real_llama_server_loads_and_serves_the_tiny_model(string weightType)
    {
        var binary = LlamaServerBinary.Find();
        if (binary is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory();
        var modelPath = dir.File("tiny.gguf");
        TinyModel.Write(modelPath, Enum.Parse<GgmlType>(weightType));
        var port = TestPki.FreePort();
        var log = new StringBuilder();
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        using var server = new Process
        {
            StartInfo = new ProcessStartInfo(binary)
            {
                ArgumentList = { "-m", modelPath, "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "-c", "256", "-np", "1", "-lv", "4" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            },
            EnableRaisingEvents = true,
        };
        void OnLine(object? sender, DataReceivedEventArgs e)
        {
            if (e.Data is null)
            {
                return;
            }

            lock (log)
            {
                log.AppendLine(e.Data);
            }

            if (e.Data.Contains("listening on http://", StringComparison.Ordinal))
            {
                listening.TrySetResult();
            }
        }

        server.OutputDataReceived += OnLine;
        server.ErrorDataReceived += OnLine;
        server.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"llama-server exited with {server.ExitCode}"));
        server.Start();
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            await listening.Task.WaitAsync(StartTimeout, ct);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };

            using var health = await http.GetAsync(new Uri("/health", UriKind.Relative), ct);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);

            using var body = new StringContent(
                """{"messages":[{"role":"user","content":"hello"}],"max_tokens":4,"ignore_eos":true}""", Encoding.UTF8, "application/json");
            using var chat = await http.PostAsync(new Uri("/v1/chat/completions", UriKind.Relative), body, ct);
            var json = JsonDocument.Parse(await chat.Content.ReadAsStringAsync(ct)).RootElement;
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
            Assert.Equal("length", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
            Assert.Equal(4, json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

            string text;
            lock (log)
            {
                text = log.ToString();
            }

            // llama.cpp prints its buffers in MiB with two decimals; our figures must round to the same.
            var profile = ModelProfileReader.Read(modelPath, ct);
            var estimate = new LlamaCppMemoryEstimator(new LlamaCppSizingSettings()).EstimateCpuOnly(profile, 256, GgmlType.F16);
            var buffers = LlamaServerMemoryLog.Parse(text.Split('\n'));
            Assert.Empty(buffers.Gpus);
            Assert.True(buffers.Host.ComputeBytes > 0, "llama-server did not log its compute buffer");
            Assert.Equal(buffers.Host.ModelBytes / 1048576.0, estimate.HostWeightBytes / 1048576.0, 0.01);
            Assert.Equal(buffers.Host.KvBytes / 1048576.0, estimate.HostKvBytes / 1048576.0, 0.01);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }

            await server.WaitForExitAsync(CancellationToken.None);
        }
    }
}
