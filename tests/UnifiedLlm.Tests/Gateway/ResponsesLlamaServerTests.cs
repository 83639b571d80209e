using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>/v1/responses in front of a real llama-server with the tiny model (context 256, two slots of 128), through the openai npm client.</summary>
public sealed class ResponsesLlamaServerTests
{
    [Fact(Timeout = 300_000)]
    public async Task Real_llama_server_answers_streams_continues_a_chain_and_a_too_long_input_gets_400()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var llama = await LlamaServerProcess.StartAsync(ct);
        if (llama is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        using var models = new StaticModelEndpoints();
        models.Serve("tiny", llama.BaseAddress, "tiny.gguf", context: 128);
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, key) = await host.Keys.CreateAsync("llama", [], 0, 0, null, ct);
        var v1 = new Uri(host.TcpAddress, "v1");

        var first = await OpenAiNodeClient.CallAsync(v1, "responses", new JsonObject { ["model"] = "tiny", ["input"] = "hello there", ["max_output_tokens"] = 4 }, key);
        Assert.True(first.Ok, first.ToString());
        var usage = first.Result!["usage"]!;
        Assert.InRange(usage["output_tokens"]!.GetValue<int>(), 1, 4);
        Assert.True(usage["input_tokens"]!.GetValue<int>() > 0, first.ToString());
        var status = first.Result["status"]!.GetValue<string>();
        Assert.True(status == "completed" || (status == "incomplete" && first.Result["incomplete_details"]!["reason"]!.GetValue<string>() == "max_output_tokens"), first.ToString());

        var second = await OpenAiNodeClient.CallAsync(v1, "responses", new JsonObject
        {
            ["model"] = "tiny",
            ["input"] = "and again",
            ["max_output_tokens"] = 4,
            ["previous_response_id"] = first.Result["id"]!.DeepClone(),
            ["stream"] = true,
        }, key);
        Assert.True(second.Ok, second.ToString());
        var events = second.Events;
        Assert.Equal(["response.created", "response.in_progress"], events.Take(2).Select(e => e!["type"]!.GetValue<string>()));
        var last = events[^1]!;
        Assert.True(last["type"]!.GetValue<string>() is "response.completed" or "response.incomplete", last.ToJsonString());
        var deltas = string.Concat(events.Where(e => e!["type"]!.GetValue<string>() == "response.output_text.delta").Select(e => e!["delta"]!.GetValue<string>()));
        var text = string.Concat(last["response"]!["output"]!.AsArray().Where(i => i!["type"]!.GetValue<string>() == "message").Select(i => i!["content"]![0]!["text"]!.GetValue<string>()));
        Assert.Equal(deltas, text);
        // The chain went upstream: the second prompt holds the first turn's input and answer, counted by llama's tokenizer.
        var secondInput = last["response"]!["usage"]!["input_tokens"]!.GetValue<int>();
        Assert.True(secondInput > usage["input_tokens"]!.GetValue<int>() + usage["output_tokens"]!.GetValue<int>(), $"{secondInput} vs {first}");

        var tooLong = await OpenAiNodeClient.CallAsync(v1, "responses", new JsonObject
        {
            ["model"] = "tiny",
            ["input"] = string.Concat(Enumerable.Repeat("word ", 120)),
            ["previous_response_id"] = first.Result["id"]!.DeepClone(),
        }, key);
        Assert.Equal(400, tooLong.Status);
        Assert.Equal("previous_response_id", tooLong.Error!["param"]!.GetValue<string>());
        Assert.Contains("context of model 'tiny' (128 tokens", tooLong.Error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
