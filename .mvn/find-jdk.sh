# Sourced (POSIX sh) by ./headscan and ./mvnw: finds a JDK >= 25 without starting a JVM, so that both work as
# written on machines whose default `java` is older.
#   headscan_find_jdk   prints the chosen JDK home: JAVA_HOME when it is >= 25, else the newest >= 25 in the usual
#                       folders, else the JDK of the `java` on PATH when that is >= 25; fails (prints nothing) otherwise.
#   headscan_java_major prints the feature version of the JDK home $1 (from its `release` file), or nothing.
HEADSCAN_MIN_JAVA=25

headscan_java_major() {
  if [ -f "$1/release" ]; then
    while IFS= read -r _hs_line; do
      case $_hs_line in
        JAVA_VERSION=*) _hs_line=${_hs_line#JAVA_VERSION=}; _hs_line=${_hs_line#\"}; echo "${_hs_line%%[.\"]*}"; return 0 ;;
      esac
    done < "$1/release"
  elif [ -x "$1/bin/java" ]; then
    "$1/bin/java" -XshowSettings:properties -version 2>&1 \
      | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
  fi
}

headscan_find_jdk() {
  _hs_best="" _hs_best_v=0
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    _hs_v=$(headscan_java_major "$JAVA_HOME")
    if [ -n "$_hs_v" ] && [ "$_hs_v" -ge "$HEADSCAN_MIN_JAVA" ]; then echo "$JAVA_HOME"; return 0; fi
  fi
  for _hs_d in /usr/lib/jvm/* /opt/java/* /opt/jdk* /usr/local/lib/jvm/* "${HOME:-/nonexistent}"/.sdkman/candidates/java/* \
               "${HOME:-/nonexistent}"/.jdks/* /Library/Java/JavaVirtualMachines/*/Contents/Home; do
    [ -x "$_hs_d/bin/java" ] && [ -x "$_hs_d/bin/javac" ] || continue
    _hs_v=$(headscan_java_major "$_hs_d")
    [ -n "$_hs_v" ] || continue
    if [ "$_hs_v" -ge "$HEADSCAN_MIN_JAVA" ] && [ "$_hs_v" -gt "$_hs_best_v" ]; then _hs_best=$_hs_d _hs_best_v=$_hs_v; fi
  done
  if [ -z "$_hs_best" ] && command -v java >/dev/null 2>&1; then
    _hs_d=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    _hs_v=$(headscan_java_major "$_hs_d")
    if [ -n "$_hs_v" ] && [ "$_hs_v" -ge "$HEADSCAN_MIN_JAVA" ]; then _hs_best=$_hs_d; fi
  fi
  [ -n "$_hs_best" ] || return 1
  echo "$_hs_best"
}

headscan_no_jdk_message() {
  echo "headscan: no JDK $HEADSCAN_MIN_JAVA or newer found (looked at JAVA_HOME${JAVA_HOME:+=$JAVA_HOME}, /usr/lib/jvm, /opt/java, ~/.sdkman, ~/.jdks and the java on PATH); install one (e.g. Temurin $HEADSCAN_MIN_JAVA) and set JAVA_HOME to it" >&2
}
