using System.ClientModel;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;
using OpenAI.Models;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>OpenAI's official .NET library against the gateway over TCP with a key: the wire format satisfies a real client.</summary>
public sealed class OpenAiClientLibraryTests
{
    [Fact]
    public async Task The_official_client_chats_streams_embeds_and_lists_models()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (c, body) => c.Request.Path == "/v1/embeddings"
            ? FakeUpstream.WriteJsonAsync(c, new JsonObject
            {
                ["object"] = "list",
                ["model"] = "tiny",
                ["data"] = new JsonArray(new JsonObject { ["object"] = "embedding", ["index"] = 0, ["embedding"] = new JsonArray(0.5, -0.25, 1.0) }),
                ["usage"] = new JsonObject { ["prompt_tokens"] = 2, ["total_tokens"] = 2 },
            })
            : body["stream"]?.GetValue<bool>() == true
                ? FakeUpstream.StreamAsync(c, "Hello", ", world")
                : FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("Hi there", prompt: 8, completion: 3));
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, secret) = await host.Keys.CreateAsync("sdk", [], 0, 0, null, ct);
        var options = new OpenAIClientOptions { Endpoint = new Uri(host.TcpAddress, "v1") };
        var client = new OpenAIClient(new ApiKeyCredential(secret), options);

        ChatCompletion completion = await client.GetChatClient("tiny").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: ct);
        Assert.Equal("Hi there", completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(3, completion.Usage.OutputTokenCount);

        var streamed = new System.Text.StringBuilder();
        await foreach (var update in client.GetChatClient("tiny").CompleteChatStreamingAsync([new UserChatMessage("hi")], new ChatCompletionOptions(), ct))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

        }

        Assert.Equal("Hello, world", streamed.ToString());

        OpenAIEmbedding embedding = await client.GetEmbeddingClient("tiny").GenerateEmbeddingAsync("x", cancellationToken: ct);
        Assert.Equal([0.5f, -0.25f, 1.0f], embedding.ToFloats().ToArray());

        OpenAIModelCollection list = await client.GetOpenAIModelClient().GetModelsAsync(ct);
        Assert.Contains(list, m => m.Id == "tiny");

        var wrongKey = new OpenAIClient(new ApiKeyCredential("ullm-not-a-key"), options);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => wrongKey.GetChatClient("tiny").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: ct));
        Assert.Equal(401, error.Status);
    }
}
