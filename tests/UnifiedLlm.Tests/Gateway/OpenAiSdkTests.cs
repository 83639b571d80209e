using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// The official openai npm client against the gateway: what a stock SDK parses from ullmd's answers, streams and errors,
/// rather than what our own test parser accepts.
/// </summary>
public sealed class OpenAiSdkTests
{
    [Fact]
    public async Task The_sdk_parses_a_chat_answer_a_stream_with_usage_and_an_error_object()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, body) => body["stream"]?.GetValue<bool>() == true
            ? FakeUpstream.StreamAsync(c, "Hel", "lo")
            : FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("hello there"));
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var v1 = new Uri(host.TcpAddress, "v1");
        var (_, key) = await host.Keys.CreateAsync("sdk", [], 0, 0, null, TestContext.Current.CancellationToken);
        var messages = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" });

        var answer = await OpenAiNodeClient.CallAsync(v1, "chat", new JsonObject { ["model"] = "tiny", ["messages"] = messages.DeepClone() }, key);
        var stream = await OpenAiNodeClient.CallAsync(v1, "chat", new JsonObject
        {
            ["model"] = "tiny",
            ["messages"] = messages.DeepClone(),
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        }, key);
        var unknown = await OpenAiNodeClient.CallAsync(v1, "chat", new JsonObject { ["model"] = "nosuch", ["messages"] = messages.DeepClone() }, key);

        Assert.True(answer.Ok, answer.ToString());
        Assert.Equal("hello there", answer.Result!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(answer.Headers["x-request-id"]?.GetValue<string>()), answer.Headers.ToJsonString());
        Assert.True(stream.Ok, stream.ToString());
        var text = string.Concat(stream.Events.Select(e => e!["choices"]!.AsArray().FirstOrDefault()?["delta"]?["content"]?.GetValue<string>()));
        Assert.Equal("Hello", text);
        Assert.Equal(2, stream.Events.Last()!["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.False(unknown.Ok);
        Assert.Equal(404, unknown.Status);
        Assert.Contains("nosuch", unknown.Error!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
