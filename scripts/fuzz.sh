#!/usr/bin/env bash
# Longer fuzz runs than CI's few seconds per target.
#
#   scripts/fuzz.sh TARGET [SECONDS|TRIES] [more -D settings]
#     TARGET   safetensors | image-jpeg | image-png | image-gif | image-bmp | image-tiff | image-webp-lossy |
#              image-webp-lossless | image (all image formats) | config | tokenizer | request | all
#     SECONDS  time per target, e.g. 600 (default 60); or TRIES as "100000x" (a number of cases per target)
#
# Prints per target the cases tried, the failures and hangs, and each distinct failure; failing inputs are
# written (minimised) to target/fuzz-findings/TARGET/ of the module, or to -Dinstella.fuzz.findings=DIR.
# Other settings: -Dinstella.fuzz.seed=random|N, -Dinstella.fuzz.timeoutMs=2000, -Dinstella.fuzz.maxHangs=2.
# To keep a failing input as a regression case, copy it into the target's corpus directory:
#   instella-core/src/test/resources/io/instella/core/fuzz/SafeTensorsFuzzTestInputs/safetensors/
#   instella-model/src/test/resources/io/instella/model/fuzz/{Image,Config,Tokenizer}FuzzTestInputs/TARGET/
#   instella-server/src/test/resources/io/instella/server/fuzz/RequestFuzzTestInputs/request/
set -euo pipefail
cd "$(dirname "$0")/.."
source ./scripts/find-jdk.sh
export JAVA_HOME
target="${1:?usage: scripts/fuzz.sh TARGET [SECONDS|TRIESx] [-Dname=value ...]}"
budget="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))
if [[ "$budget" == *x ]]; then limit="-Dinstella.fuzz.tries=${budget%x}"; else limit="-Dinstella.fuzz.seconds=$budget"; fi
case "$target" in
  safetensors) module=instella-core; tests='SafeTensorsFuzzTest#fuzz' ;;
  image*) module=instella-model; tests='ImageFuzzTest#fuzz' ;;
  config) module=instella-model; tests='ConfigFuzzTest#fuzz' ;;
  tokenizer) module=instella-model; tests='TokenizerFuzzTest#fuzz' ;;
  request) module=instella-server; tests='RequestFuzzTest#fuzz' ;;
  all) module=instella-core,instella-model,instella-server; tests='*FuzzTest#fuzz'; target='' ;;
  *) echo "unknown target '$target'" >&2; exit 2 ;;
esac
[ "$target" = image ] && target=image-
# Full stack traces for repeated JDK exceptions, so that findings are told apart by where they come from.
flags='--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -XX:-OmitStackTraceInFastThrow'
exec mvn -B -ntp -pl "$module" -am test -Dtest="$tests" -Dsurefire.failIfNoSpecifiedTests=false \
  "-Dinstella.jvm.flags=$flags" "-Dinstella.fuzz.target=$target" "$limit" "$@"
