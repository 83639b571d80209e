# A 0.5 MB random-weight llama GGUF (see tiny-model.py): enough for llama-server to load and answer.
{ runCommand, python3 }:

runCommand "unified-llm-tiny-model.gguf"
  {
    nativeBuildInputs = [
      (python3.withPackages (ps: [
        ps.gguf
        ps.numpy
      ]))
    ];
  }
  ''
    python3 ${./tiny-model.py} "$out"
  ''
