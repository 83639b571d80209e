using System.Text;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Gateway.Caching;

namespace UnifiedLlm.Tests.Gateway.Caching;

/// <summary>The cache key: every component that changes the answer changes it, and nothing else does.</summary>
public sealed class CacheKeysTests
{
    private const string Base = """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":16}""";

    private static string Key(string body, EndpointKind kind = EndpointKind.ChatCompletions, string owner = "tiny", string? scope = "key-1", bool sampled = false)
    {
        var decision = CacheKeys.Decide(kind, Encoding.UTF8.GetBytes(body), owner, scope, sampled);
        return decision.Key ?? throw new InvalidOperationException($"bypassed: {decision.BypassReason}");
    }

    private static string? Bypass(string body, EndpointKind kind = EndpointKind.ChatCompletions, bool sampled = false) =>
        CacheKeys.Decide(kind, Encoding.UTF8.GetBytes(body), "tiny", null, sampled).BypassReason;

    [Fact]
    public void Order_whitespace_escapes_number_spelling_and_the_fields_that_do_not_change_the_answer_keep_the_key()
    {
        var key = Key(Base);
        Assert.Matches("^[0-9a-f]{64}$", key);
        Assert.Equal(key, Key("""{ "max_tokens" : 16, "temperature": 0.0, "messages": [ { "content": "h\u0069", "role": "user" } ], "model": "tiny" }"""));
        Assert.Equal(key, Key("""{"model":"tiny-alias","messages":[{"role":"user","content":"hi"}],"temperature":0e0,"max_tokens":1.6e1}"""));
        Assert.Equal(key, Key(Base.TrimEnd('}') + ""","stream":true,"stream_options":{"include_usage":true},"user":"alice"}"""));
    }

    [Theory]
    [InlineData("messages", """{"model":"tiny","messages":[{"role":"user","content":"hello"}],"temperature":0,"max_tokens":16}""")]
    [InlineData("role", """{"model":"tiny","messages":[{"role":"system","content":"hi"}],"temperature":0,"max_tokens":16}""")]
    [InlineData("max_tokens", """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":17}""")]
    [InlineData("top_p", """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":16,"top_p":0.5}""")]
    [InlineData("seed", """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":16,"seed":9007199254740993}""")]
    [InlineData("tools", """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":16,"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}""")]
    [InlineData("response_format", """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":16,"response_format":{"type":"json_object"}}""")]
    [InlineData("stop", """{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":16,"stop":["\n"]}""")]
    public void Each_request_component_changes_the_key(string component, string body)
    {
        Assert.True(Key(Base) != Key(body), $"{component} did not change the key");
    }

    [Fact]
    public void Seeds_differing_past_double_precision_give_different_keys()
    {
        var a = Key(Base.TrimEnd('}') + ""","seed":9007199254740993}""");
        var b = Key(Base.TrimEnd('}') + ""","seed":9007199254740992}""");
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Endpoint_owner_and_scope_change_the_key_and_a_shared_cache_has_no_scope()
    {
        var key = Key(Base);
        Assert.NotEqual(key, Key(Base, EndpointKind.Completions));
        Assert.NotEqual(key, Key(Base, owner: "other"));
        Assert.NotEqual(key, Key(Base, scope: "key-2"));
        Assert.NotEqual(key, Key(Base, scope: null));
        Assert.Equal(Key(Base, scope: null), Key(Base, scope: null));
    }

    [Fact]
    public void Sampled_and_logprobs_requests_bypass_unless_sampled_caching_is_on()
    {
        Assert.Equal("sampled", Bypass("""{"model":"tiny","messages":[{"role":"user","content":"hi"}]}"""));
        Assert.Equal("sampled", Bypass("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0.7}"""));
        Assert.Equal("sampled", Bypass("""{"model":"tiny","prompt":"hi","temperature":null}""", EndpointKind.Completions));
        Assert.Null(Bypass("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0.7}""", sampled: true));
        Assert.Null(Bypass("""{"model":"tiny","messages":[{"role":"user","content":"hi"}]}""", sampled: true));
        Assert.Equal("logprobs", Bypass("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"logprobs":true}"""));
        Assert.Equal("logprobs", Bypass("""{"model":"tiny","prompt":"hi","temperature":0,"logprobs":2}""", EndpointKind.Completions));
        Assert.Null(Bypass("""{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"logprobs":false}"""));
        // Embeddings do not sample: no temperature needed.
        Assert.Null(Bypass("""{"model":"tiny","input":"hi"}""", EndpointKind.Embeddings));
    }

    [Fact]
    public void A_string_that_is_not_valid_unicode_bypasses_instead_of_failing()
    {
        Assert.Equal("not valid Unicode", Bypass("""{"model":"tiny","messages":[{"role":"user","content":"\ud800"}],"temperature":0}"""));
    }
}
