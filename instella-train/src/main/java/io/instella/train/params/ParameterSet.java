package io.instella.train.params;

import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/** The trained parameters of a run, in checkpoint order, by name. */
public final class ParameterSet implements Iterable<Parameter> {
    private final Map<String, Parameter> byName = new LinkedHashMap<>();

    public void add(Parameter p) {
        if (byName.putIfAbsent(p.name(), p) != null) throw new IllegalArgumentException("parameter " + p.name() + " added twice");
    }

    public Parameter get(String name) { return byName.get(name); }

    public boolean contains(String name) { return byName.containsKey(name); }

    public Collection<Parameter> all() { return byName.values(); }

    public int size() { return byName.size(); }

    public long numel() {
        long n = 0;
        for (Parameter p : byName.values()) n += p.size();
        return n;
    }

    public void zeroGrad() { byName.values().forEach(Parameter::zeroGrad); }

    @Override
    public Iterator<Parameter> iterator() { return byName.values().iterator(); }
}
