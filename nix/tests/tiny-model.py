"""Writes a tiny random-weight llama-architecture GGUF for the NixOS VM test.

The model only has to load in llama-server and answer with some tokens: 2 layers, 64-wide
embeddings, an SPM vocabulary of the special tokens, all 256 byte tokens (llama.cpp requires
them for an SPM vocabulary) and the lowercase letters, and a chatml chat template.
Usage: python3 tiny-model.py OUTPUT.gguf
"""

import string
import sys

import gguf
import numpy as np

CONTEXT = 256
EMBEDDING = 64
HEADS = 4
FEED_FORWARD = 128
LAYERS = 2

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def vocabulary():
    tokens = [("<unk>", gguf.TokenType.UNKNOWN), ("<s>", gguf.TokenType.CONTROL), ("</s>", gguf.TokenType.CONTROL)]
    tokens += [(f"<0x{byte:02X}>", gguf.TokenType.BYTE) for byte in range(256)]
    tokens += [("\u2581", gguf.TokenType.NORMAL)]
    tokens += [(letter, gguf.TokenType.NORMAL) for letter in string.ascii_lowercase]
    tokens += [("\u2581" + letter, gguf.TokenType.NORMAL) for letter in string.ascii_lowercase]
    return tokens


def main(output):
    rng = np.random.default_rng(seed=7)
    tokens = vocabulary()

    def weights(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer = gguf.GGUFWriter(output, "llama")
    writer.add_name("unified-llm vm-test tiny model")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBEDDING)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(EMBEDDING // HEADS)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("llama")
    writer.add_token_list([text for text, _ in tokens])
    writer.add_token_types([kind for _, kind in tokens])
    writer.add_token_scores([-float(index) for index in range(len(tokens))])
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template(CHATML)

    # numpy shapes are the reverse of ggml's (ne0 = the row length comes last).
    writer.add_tensor("token_embd.weight", weights(len(tokens), EMBEDDING))
    for layer in range(LAYERS):
        prefix = f"blk.{layer}."
        writer.add_tensor(prefix + "attn_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
        for projection in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(prefix + projection + ".weight", weights(EMBEDDING, EMBEDDING))
        writer.add_tensor(prefix + "ffn_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
        writer.add_tensor(prefix + "ffn_gate.weight", weights(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(prefix + "ffn_up.weight", weights(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(prefix + "ffn_down.weight", weights(EMBEDDING, FEED_FORWARD))
    writer.add_tensor("output_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
    writer.add_tensor("output.weight", weights(len(tokens), EMBEDDING))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tiny-model.py OUTPUT.gguf")
    main(sys.argv[1])
