/* vfork(): a C wrapper cannot call vfork (the child would return into a dead frame), so this
 * trampoline tail-jumps to the real vfork, or to fork once the engine is loaded or virtual
 * state (cwd, recorded fds) exists: a vfork child must not use the engine or our tables. */
    .text
    .globl vfork
    .type vfork, @function
vfork:
.Lvfork:
    mov sh_engine_loaded(%rip), %eax
    or sh_vcwd_on(%rip), %eax
    or sh_nrec(%rip), %eax
    jnz 1f
    mov sh_real_vfork_fn(%rip), %rax
    test %rax, %rax
    jz 2f
    movl $1, sh_shared_memory_child(%rip)
    jmp *%rax
1:  mov sh_real_fork_fn(%rip), %rax
    test %rax, %rax
    jz 2f
    jmp *%rax
2:  sub $8, %rsp
    call sh_resolve_forks
    add $8, %rsp
    jmp .Lvfork
    .size vfork, .-vfork
    .section .note.GNU-stack,"",@progbits
