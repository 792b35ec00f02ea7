package io.instella.eval.tasks;

/** A document or prediction that a task cannot read (missing field, wrong type, value out of range). */
public class EvalInputException extends RuntimeException {
    public EvalInputException(String message) {
        super(message);
    }
}
