// CI check of this example (run by maven-invoker-plugin from instella-langchain4j/pom.xml, on the golden tiny
// model): the program printed an answer and its token usage.
def log = new File(basedir, 'build.log').text
def usage = log =~ /(\d+) prompt tokens, (\d+) generated, finish reason (\w+)/
assert usage.find() : "no token-usage line in build.log"
assert usage.group(1).toInteger() > 576 : "the prompt should hold the image's tokens: ${usage.group(0)}"
assert usage.group(2).toInteger() == 12 : "expected 12 generated tokens: ${usage.group(0)}"
def lines = log.readLines()
def at = lines.findIndexOf { it ==~ /.*\d+ prompt tokens, \d+ generated.*/ }
assert lines[0..<at].any { it.trim() && !it.startsWith('[') } : "no answer printed before the usage line"
return true
