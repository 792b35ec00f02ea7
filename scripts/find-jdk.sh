# Sourced by ./instella and .ci/run: sets JAVA_HOME to a JDK >= 25 (the Vector API and FFM need it).
_instella_java_ok() { [ -x "$1/bin/java" ] && "$1/bin/java" -version 2>&1 | head -1 | grep -Eq 'version "(2[5-9]|[3-9][0-9])'; }
if [ -n "${JAVA_HOME:-}" ] && _instella_java_ok "$JAVA_HOME"; then :; else
  JAVA_HOME=""
  for d in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25* /usr/lib/jvm/*2[6-9]* /opt/java/* "$HOME"/.sdkman/candidates/java/*; do
    if _instella_java_ok "$d"; then JAVA_HOME="$d"; break; fi
  done
  if [ -z "$JAVA_HOME" ]; then
    echo "instella: needs a Java 25 (or newer) JDK; set JAVA_HOME to one (found only: $(java -version 2>&1 | head -1))" >&2
    exit 1
  fi
fi
export JAVA_HOME
