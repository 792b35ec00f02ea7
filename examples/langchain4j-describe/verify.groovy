// CI check of this example (run by maven-invoker-plugin from instella-langchain4j/pom.xml on the golden tiny
// model, 12 greedy tokens): the program printed an answer, then its token usage.
def lines = new File(basedir, 'build.log').readLines()
def at = lines.findIndexOf { it ==~ /\(\d+ prompt tokens, \d+ generated, finish reason \w+\)/ }
assert at > 0 : "no token-usage line in build.log"
def usage = lines[at] =~ /\((\d+) prompt tokens, (\d+) generated, finish reason (\w+)\)/
assert usage.matches()
assert usage.group(1).toInteger() > 576 : "the prompt should hold the image's tokens: ${lines[at]}"
assert usage.group(2).toInteger() == 12 && usage.group(3) == 'LENGTH' : "expected 12 tokens, LENGTH: ${lines[at]}"
assert lines[at - 1].trim() : "no answer printed before the usage line"
return true
